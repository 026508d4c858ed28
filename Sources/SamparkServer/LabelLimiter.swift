import Synchronization

/// Bounds the distinct values one metric label may take: the first `limit` values pass, any
/// later new value becomes `overflow`. Keeps a bug or a strange publisher from creating an
/// unbounded number of time series (each is kept in memory for the life of the process).
final class LabelLimiter: Sendable {
    private let limit: Int
    private let overflow: String
    private let seen = Mutex(Set<String>())

    init(limit: Int, overflow: String) {
        self.limit = limit
        self.overflow = overflow
    }

    func value(_ candidate: String) -> String {
        seen.withLock { seen in
            if seen.contains(candidate) { return candidate }
            guard seen.count < limit else { return overflow }
            seen.insert(candidate)
            return candidate
        }
    }
}
