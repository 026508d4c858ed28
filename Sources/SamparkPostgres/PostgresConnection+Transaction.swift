import Foundation

/// Transaction isolation levels (PostgreSQL's READ UNCOMMITTED behaves as READ COMMITTED).
public enum PostgresIsolationLevel: String, Sendable, Hashable {
    case readCommitted = "READ COMMITTED"
    case repeatableRead = "REPEATABLE READ"
    case serializable = "SERIALIZABLE"
}

/// How often a transaction is re-run after a serialization failure (40001) or a deadlock
/// (40P01), with jittered exponential backoff between attempts so two colliding
/// transactions do not collide again in lockstep.
public struct PostgresRetryPolicy: Sendable, Hashable {
    /// Total runs of the closure, the first included. 1 disables retries.
    public var maxAttempts: Int
    /// The backoff before attempt n+1 is a random duration up to
    /// `min(maxDelay, baseDelay * 2^(n-1))`.
    public var baseDelay: Duration
    public var maxDelay: Duration

    public init(maxAttempts: Int = 5, baseDelay: Duration = .milliseconds(5), maxDelay: Duration = .milliseconds(250)) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    public static let `default` = PostgresRetryPolicy()
    public static let never = PostgresRetryPolicy(maxAttempts: 1)

    /// The pause before the attempt after `attempt` (1-based).
    func delay(after attempt: Int) -> Duration {
        let exponent = min(attempt - 1, 20)
        let ceiling = min(maxDelay, baseDelay * (1 << exponent))
        let nanoseconds = ceiling.components.seconds * 1_000_000_000 + ceiling.components.attoseconds / 1_000_000_000
        guard nanoseconds > 0 else { return .zero }
        return .nanoseconds(Int64.random(in: 0...nanoseconds))
    }

    static func isRetryable(_ error: PostgresError) -> Bool {
        error.kind == .server && (error.code == .serializationFailure || error.code == .deadlockDetected)
    }
}

extension PostgresConnection {
    /// Runs `body` in a transaction on this connection: BEGIN, then COMMIT if `body`
    /// returns, ROLLBACK if it throws. A serialization failure or deadlock anywhere in it
    /// (COMMIT included) rolls back and re-runs `body`, up to `retry.maxAttempts` times, so
    /// `body` must be safe to run more than once (no side effects outside the database).
    ///
    /// If the connection breaks while COMMIT is in flight, the outcome is unknown: the error
    /// has ``PostgresError/commitOutcomeUnknown`` set and is not retried here.
    /// Nested transactions are not supported: calling this inside one is a usage error.
    public func transaction<T>(
        isolation: PostgresIsolationLevel = .readCommitted,
        readOnly: Bool = false,
        retry: PostgresRetryPolicy = .default,
        _ body: (PostgresConnection) throws -> T
    ) throws -> T {
        guard !isInTransaction else {
            throw PostgresError(kind: .usage, message: "a transaction is already open on this connection (savepoints are not supported)")
        }
        var attempt = 1
        while true {
            do {
                return try transactionOnce(isolation: isolation, readOnly: readOnly, body)
            } catch let error as PostgresError where PostgresRetryPolicy.isRetryable(error) && !isBroken && attempt < retry.maxAttempts {
                let pause = retry.delay(after: attempt)
                logger.debug("retrying transaction", metadata: [
                    "sqlstate": "\(error.code?.rawValue ?? "")", "attempt": "\(attempt + 1)",
                ])
                attempt += 1
                // A short blocking pause is fine here: this is the connection's own thread,
                // not one of Swift's cooperative threads.
                Thread.sleep(forTimeInterval: Double(pause.components.attoseconds) / 1e18 + Double(pause.components.seconds))
            }
        }
    }

    private func transactionOnce<T>(isolation: PostgresIsolationLevel, readOnly: Bool, _ body: (PostgresConnection) throws -> T) throws -> T {
        // Fixed text from the enum: no value goes into it.
        try execute("BEGIN ISOLATION LEVEL \(isolation.rawValue)" + (readOnly ? " READ ONLY" : ""))
        let value: T
        do {
            value = try body(self)
        } catch {
            rollbackQuietly()
            throw error
        }
        let tag: String
        do throws(PostgresError) {
            tag = try query("COMMIT").commandTag
        } catch {
            var error = error
            if error.isConnectionError || isBroken {
                error.commitOutcomeUnknown = true
            } else {
                rollbackQuietly()
            }
            throw error
        }
        // COMMIT of a transaction in which a statement failed (and the error was caught
        // inside `body`) answers ROLLBACK: report it instead of pretending success.
        if tag == "ROLLBACK" {
            throw PostgresError(kind: .server, code: .inFailedSQLTransaction,
                                message: "the transaction was rolled back at COMMIT because a statement in it failed")
        }
        return value
    }

    private func rollbackQuietly() {
        guard !isBroken, isInTransaction else { return }
        do { try execute("ROLLBACK") } catch { markBroken() }
    }
}
