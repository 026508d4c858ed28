import Logging

/// Sets up swift-log for a worker process: every `Logger` writes JSON lines (``JSONLogHandler``).
public enum SamparkLogging {
    /// Makes every logger of the process (ours, and those of the libraries: Hummingbird,
    /// ServiceLifecycle) a ``JSONLogHandler`` at `level`.
    ///
    /// Call it once, first thing in `main`, after reading the settings: swift-log allows one
    /// bootstrap per process and stops the process on a second.
    public static func bootstrap(
        level: Logger.Level,
        sink: LogSink = .standardOutput,
        metadataProvider: Logger.MetadataProvider? = nil
    ) {
        LoggingSystem.bootstrap(
            { label, provider in
                JSONLogHandler(label: label, level: level, sink: sink, metadataProvider: provider)
            },
            metadataProvider: metadataProvider)
    }
}
