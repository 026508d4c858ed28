import Foundation
import Logging
import Synchronization

/// The id of a queued job, shared between the caller's cancellation handler and the job.
private final class JobTicket: Sendable {
    let id = Mutex<UInt64?>(nil)
}

/// What the worker thread keeps for itself: the connection. Created, used and dropped on
/// that thread only (the `PGconn` is finished when the thread ends).
final class WorkerContext {
    var connection: PostgresConnection?
}

/// A serial executor for one PostgreSQL connection: a dedicated OS thread running jobs one
/// at a time, in order, from a queue.
///
/// libpq blocks, and one PGconn must never be used by two threads at once. Running every
/// call for a connection on its own thread satisfies both rules, and keeps blocking calls
/// off Swift's cooperative pool (two threads on a two-core machine: two slow queries there
/// would stall every task in the process). Async callers suspend on a continuation that the
/// thread resumes when their job is done.
///
/// `@unchecked Sendable`, with these invariants: `jobs`, `nextJobID` and `stopping` are
/// read and written only while `condition` is locked; `context` is touched only by the
/// worker thread; `cancelState` is a `Mutex`; `broken` is atomic. Everything else is
/// immutable.
final class ConnectionWorker: @unchecked Sendable {
    typealias Job = @Sendable (WorkerContext) -> Void

    let id: Int
    let configuration: PostgresConfiguration
    let logger: Logger
    /// Check idle connections for a server-side close before each job, and reconnect.
    let validatesBeforeUse: Bool

    private let condition = NSCondition()
    private var jobs: [(id: UInt64, job: Job)] = []
    private var nextJobID: UInt64 = 1
    private var stopping = false
    private var exitWaiters: [CheckedContinuation<Void, Never>] = []
    private var exited = false

    private struct CancelState: Sendable {
        /// The job running now, and the token that cancels its query.
        var running: UInt64?
        var token: CancelToken?
        /// The highest job id that has started.
        var lastStarted: UInt64 = 0
        /// Jobs cancelled while still queued: they fail without running.
        var cancelledBeforeStart: Set<UInt64> = []
    }
    private let cancelState = Mutex(CancelState())
    private let broken = Atomic<Bool>(false)

    /// True once the connection failed to open or broke; the pool discards such workers.
    var isBroken: Bool { broken.load(ordering: .acquiring) }

    init(id: Int, configuration: PostgresConfiguration, logger: Logger, validatesBeforeUse: Bool) {
        self.id = id
        self.configuration = configuration
        self.logger = logger
        self.validatesBeforeUse = validatesBeforeUse
        let thread = Thread { [self] in self.threadMain() }
        thread.name = "sampark-pg-\(id)"
        thread.start()
    }

    private func threadMain() {
        let context = WorkerContext()
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                break
            }
            let (_, job) = jobs.removeFirst()
            condition.unlock()
            job(context)
        }
        // PQfinish on the thread that owned the connection.
        context.connection = nil
        condition.lock()
        exited = true
        let waiters = exitWaiters
        exitWaiters = []
        condition.unlock()
        waiters.forEach { $0.resume() }
    }

    /// Queues a job; returns its id.
    private func enqueue(_ job: @escaping Job) -> UInt64 {
        condition.lock()
        defer { condition.unlock() }
        let id = nextJobID
        nextJobID += 1
        jobs.append((id, job))
        condition.signal()
        return id
    }

    /// Lets the thread finish the jobs already queued, close the connection and exit.
    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    /// Waits until the thread has closed its connection and exited.
    func waitUntilStopped() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            condition.lock()
            if exited {
                condition.unlock()
                continuation.resume()
            } else {
                exitWaiters.append(continuation)
                condition.unlock()
            }
        }
    }

    /// Runs `body` with the connection on the worker thread and returns its result.
    /// Opens the connection first if needed. Task cancellation sends a cancel request for
    /// the running query (the server then fails it with 57014), or drops a queued job.
    func run<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        let ticket = JobTicket()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                // The job id is recorded under the lock the cancel handler reads; the job
                // itself reads it through the same lock, so it waits for the assignment.
                ticket.id.withLock { slot in
                    slot = enqueue { [self] context in
                        let id = ticket.id.withLock { $0 } ?? 0
                        continuation.resume(with: execute(context: context, jobID: id, body))
                    }
                }
                // Cancelled before the handler could see an id: cancel now.
                if Task.isCancelled, let id = ticket.id.withLock({ $0 }) { cancel(job: id) }
            }
        } onCancel: {
            if let id = ticket.id.withLock({ $0 }) { cancel(job: id) }
        }
    }

    /// On the worker thread: make sure a healthy connection exists, run the job, tidy up.
    private func execute<T>(context: WorkerContext, jobID: UInt64, _ body: (PostgresConnection) throws -> T) -> Result<T, any Error> {
        let cancelledEarly = cancelState.withLock { state -> Bool in
            state.lastStarted = max(state.lastStarted, jobID)
            return state.cancelledBeforeStart.remove(jobID) != nil
        }
        if cancelledEarly { return .failure(CancellationError()) }

        let connection: PostgresConnection
        do throws(PostgresError) {
            if let existing = context.connection {
                if validatesBeforeUse { _ = try existing.reconnectIfStale() }
                connection = existing
            } else {
                connection = try PostgresConnection(configuration: configuration, logger: logger)
                context.connection = connection
            }
        } catch {
            context.connection = nil
            broken.store(true, ordering: .releasing)
            return .failure(error)
        }

        cancelState.withLock { state in
            state.running = jobID
            state.token = connection.cancelToken
        }
        let result = Result { try body(connection) }
        cancelState.withLock { state in
            state.running = nil
            state.token = nil
        }
        connection.resetAfterUse()
        if connection.isBroken {
            broken.store(true, ordering: .releasing)
            // Free the socket now rather than when the pool gets round to stopping us.
            context.connection = nil
        }
        return result
    }

    /// Cancels a job: a running one through PQcancel, a queued one by marking it.
    private func cancel(job: UInt64) {
        cancelState.withLock { state in
            if state.running == job {
                // Under the lock, so the worker cannot start the next job (whose query this
                // request could otherwise hit) until the request has been delivered.
                state.token?.cancel()
            } else if job > state.lastStarted {
                state.cancelledBeforeStart.insert(job)
            }
        }
    }
}
