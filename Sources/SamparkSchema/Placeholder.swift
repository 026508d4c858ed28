// Placeholder until the target has its first real file.
