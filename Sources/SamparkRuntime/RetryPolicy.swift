/// How a transiently failing message is tried again: each retry waits in a delay queue
/// (`<queue>.delay.<n>`, a quorum queue whose message TTL is the delay and whose dead-letter
/// target is the work queue again), so a failing message never spins and never blocks the
/// messages behind it. After the last delay the message is dead-lettered with its last error.
public struct RetryPolicy: Sendable, Hashable {
    /// The wait before retry 1, 2, ...; the message is tried `delays.count + 1` times in all.
    public var delays: [Duration]

    public init(delays: [Duration] = [.seconds(1), .seconds(5), .seconds(30), .seconds(120), .seconds(600)]) {
        precondition(!delays.isEmpty, "a retry policy needs at least one delay")
        self.delays = delays
    }

    public static let `default` = RetryPolicy()

    /// The delay queue for retry number `retry` (1-based) of messages from `queue`.
    public static func delayQueue(for queue: String, retry: Int) -> String { "\(queue).delay.\(retry)" }

    var maxAttempts: Int { delays.count + 1 }

    func milliseconds(beforeRetry retry: Int) -> Int64 {
        let delay = delays[retry - 1]
        return delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000
    }
}
