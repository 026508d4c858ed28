import Foundation
import Logging
import Synchronization

/// A bounded pool of PostgreSQL connections, each with its own thread.
///
/// Connections open on demand, up to `size`. When all are busy, callers wait in a fair
/// (first come, first served) queue, suspended, not spinning. A connection that breaks
/// (the server restarted, the network failed) is discarded; its caller gets a transient
/// ``PostgresError`` (``PostgresError/retryable``), never a hang, and the next caller gets a
/// fresh connection. Idle connections are also checked before use, so after a server
/// restart most callers never see the dead connections at all.
///
/// ```swift
/// let pool = PostgresPool(configuration: try PostgresConfiguration(url: url), size: 4)
/// let names = try await pool.withConnection { conn in
///     try conn.query("SELECT name FROM people WHERE unit = $1", [unit]).map { try $0["name", as: String.self] }
/// }
/// let id = try await pool.transaction(isolation: .serializable) { conn in
///     try conn.query("INSERT INTO lists (name) VALUES ($1) RETURNING id", [name]).first!["id", as: Int.self]
/// }
/// await pool.shutdown()
/// ```
public final class PostgresPool: Sendable {
    /// How many connections exist, are idle, and how many callers wait.
    public struct Statistics: Sendable, Hashable {
        public let open: Int
        public let idle: Int
        public let waiting: Int
    }

    private enum Lease {
        case use(ConnectionWorker)
        case open
    }

    private struct State {
        var machine: PoolStateMachine<ConnectionWorker>
        var continuations: [UInt64: CheckedContinuation<Lease, any Error>] = [:]
        var nextWaiterID: UInt64 = 1
        var nextConnectionID = 1
        var all: [ObjectIdentifier: ConnectionWorker] = [:]
    }

    public let configuration: PostgresConfiguration
    public let size: Int
    private let validatesIdleConnections: Bool
    private let logger: Logger
    private let state: Mutex<State>

    /// - Parameters:
    ///   - configuration: Where to connect.
    ///   - size: The most connections the pool opens (each is also a thread).
    ///   - validatesIdleConnections: Before lending an idle connection, check without a
    ///     round trip whether the server closed it, and reconnect if so. On by default.
    ///   - logger: For connection lifecycle and retries. Never logs values.
    public init(
        configuration: PostgresConfiguration,
        size: Int = 4,
        validatesIdleConnections: Bool = true,
        logger: Logger = Logger(label: "sampark.postgres")
    ) {
        precondition(size > 0, "a pool needs at least one connection")
        self.configuration = configuration
        self.size = size
        self.validatesIdleConnections = validatesIdleConnections
        self.logger = logger
        self.state = Mutex(State(machine: PoolStateMachine(capacity: size)))
    }

    deinit {
        // Idle workers hold their threads; let them finish. (Busy ones cannot exist here:
        // every lease keeps the pool alive.)
        state.withLock { state in
            for worker in state.all.values { worker.stop() }
        }
    }

    public var statistics: Statistics {
        state.withLock { state in
            Statistics(open: state.machine.open, idle: state.machine.idle.count, waiting: state.machine.waiters.count)
        }
    }

    /// Lends a connection to `body`, which runs synchronously on the connection's own
    /// thread, and returns its result. A transaction `body` leaves open is rolled back.
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        let worker = try await lease()
        do {
            let value = try await worker.run(body)
            release(worker)
            return value
        } catch {
            release(worker)
            throw error
        }
    }

    /// Runs `body` in a transaction on a pooled connection and returns its result.
    ///
    /// `body` is synchronous and runs on the connection's thread. Serialization failures
    /// (40001) and deadlocks (40P01) are retried per `retry`, with jittered backoff; `body`
    /// must therefore be safe to run more than once.
    ///
    /// Connection errors: if the connection could not be opened, or broke before COMMIT was
    /// sent (BEGIN or `body` hit it), the transaction certainly did not commit — the server
    /// rolls back a transaction whose session ends — so it is run once more on a fresh
    /// connection. If the connection broke while COMMIT was in flight, the outcome is
    /// unknown and the error (``PostgresError/commitOutcomeUnknown``) is thrown as is:
    /// running `body` again could apply it twice.
    public func transaction<T: Sendable>(
        isolation: PostgresIsolationLevel = .readCommitted,
        readOnly: Bool = false,
        retry: PostgresRetryPolicy = .default,
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        var reconnected = false
        while true {
            do {
                return try await withConnection { conn in
                    try conn.transaction(isolation: isolation, readOnly: readOnly, retry: retry, body)
                }
            } catch let error as PostgresError where error.isConnectionError && !error.commitOutcomeUnknown && !reconnected {
                reconnected = true
                logger.info("connection error before COMMIT; running the transaction once more on a fresh connection",
                            metadata: ["sqlstate": "\(error.code?.rawValue ?? "")"])
                try await Task.sleep(for: .milliseconds(Int.random(in: 10...50)))
            }
        }
    }

    /// Runs one statement on a pooled connection and returns its rows.
    @discardableResult
    public func query(_ sql: String, _ binds: [any PostgresEncodable] = [], prepared: Bool = false) async throws -> PostgresRows {
        try await withConnection { conn in try conn.query(sql, binds, prepared: prepared) }
    }

    /// Runs one statement on a pooled connection and returns the rows it affected.
    @discardableResult
    public func execute(_ sql: String, _ binds: [any PostgresEncodable] = [], prepared: Bool = false) async throws -> Int {
        try await withConnection { conn in try conn.execute(sql, binds, prepared: prepared) }
    }

    /// Streams `COPY ... FROM STDIN` data on a pooled connection; returns the rows stored.
    /// See ``PostgresConnection/copyIn(_:chunks:)``.
    @discardableResult
    public func copyIn<Chunks: Sequence<[UInt8]> & Sendable>(_ sql: String, chunks: Chunks) async throws -> Int {
        try await withConnection { conn in try conn.copyIn(sql, chunks: chunks) }
    }

    /// Closes idle connections, fails waiting callers with ``PostgresError/Kind/poolClosed``,
    /// and closes busy connections as they come back. Returns when the idle ones are closed.
    public func shutdown() async {
        let (close, fail) = state.withLock { state -> ([ConnectionWorker], [CheckedContinuation<Lease, any Error>]) in
            let (idle, waiters) = state.machine.shutdown()
            for worker in idle { state.all[ObjectIdentifier(worker)] = nil }
            return (idle, waiters.compactMap { state.continuations.removeValue(forKey: $0) })
        }
        for continuation in fail { continuation.resume(throwing: Self.closedError) }
        for worker in close { worker.stop() }
        for worker in close { await worker.waitUntilStopped() }
    }

    private static let closedError = PostgresError(kind: .poolClosed, message: "the PostgreSQL pool is shut down")

    // MARK: - Leasing

    private func lease() async throws -> ConnectionWorker {
        let waiterID = state.withLock { state -> UInt64 in
            defer { state.nextWaiterID += 1 }
            return state.nextWaiterID
        }
        let action: Lease = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Lease, any Error>) in
                let immediate: Result<Lease, any Error>? = state.withLock { state in
                    switch state.machine.lease(waiter: waiterID) {
                    case .use(let worker): return .success(.use(worker))
                    case .open: return .success(.open)
                    case .closed: return .failure(Self.closedError)
                    case .wait:
                        if Task.isCancelled {
                            _ = state.machine.cancel(waiter: waiterID)
                            return .failure(CancellationError())
                        }
                        state.continuations[waiterID] = continuation
                        return nil
                    }
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            let continuation = state.withLock { state -> CheckedContinuation<Lease, any Error>? in
                guard state.machine.cancel(waiter: waiterID) else { return nil }
                return state.continuations.removeValue(forKey: waiterID)
            }
            continuation?.resume(throwing: CancellationError())
        }

        switch action {
        case .use(let worker):
            return worker
        case .open:
            return try await openConnection()
        }
    }

    /// Opens a connection into a slot the state machine reserved.
    private func openConnection() async throws -> ConnectionWorker {
        let worker = state.withLock { state -> ConnectionWorker in
            defer { state.nextConnectionID += 1 }
            let worker = ConnectionWorker(id: state.nextConnectionID, configuration: configuration, logger: logger,
                                          validatesBeforeUse: validatesIdleConnections)
            state.all[ObjectIdentifier(worker)] = worker
            return worker
        }
        do {
            // The first job opens the connection, on the worker's own thread.
            try await worker.run { _ in () }
            logger.debug("postgres connection opened", metadata: ["connection": "\(worker.id)"])
            return worker
        } catch {
            worker.stop()
            let wakeup = state.withLock { state in
                state.all[ObjectIdentifier(worker)] = nil
                return Self.take(state.machine.openFailed(), from: &state)
            }
            perform(wakeup)
            throw error
        }
    }

    private func release(_ worker: ConnectionWorker) {
        let broken = worker.isBroken
        if broken {
            logger.info("discarding a broken postgres connection", metadata: ["connection": "\(worker.id)"])
        }
        let wakeup = state.withLock { state in
            let action = state.machine.release(worker, broken: broken)
            if let closing = action.close { state.all[ObjectIdentifier(closing)] = nil }
            return Self.take(action, from: &state)
        }
        perform(wakeup)
    }

    private struct Wakeup {
        var close: ConnectionWorker?
        var resume: (CheckedContinuation<Lease, any Error>, Lease)?
    }

    /// Under the lock: pairs the state machine's decision with the waiter's continuation, so
    /// a cancellation cannot slip between the two.
    private static func take(_ action: PoolStateMachine<ConnectionWorker>.ReleaseAction, from state: inout State) -> Wakeup {
        var wakeup = Wakeup(close: action.close)
        if let (waiter, grant) = action.wake, let continuation = state.continuations.removeValue(forKey: waiter) {
            switch grant {
            case .use(let worker): wakeup.resume = (continuation, .use(worker))
            case .open: wakeup.resume = (continuation, .open)
            }
        }
        return wakeup
    }

    /// Carries out a wakeup outside the lock.
    private func perform(_ wakeup: Wakeup) {
        wakeup.close?.stop()
        if let (continuation, lease) = wakeup.resume { continuation.resume(returning: lease) }
    }
}
