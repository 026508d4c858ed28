import Foundation
import SamparkPostgres
import SamparkTestSupport
import Synchronization

/// Swift Testing runs suites in parallel, and a server restart would break the connections
/// of every other test running at that moment. Integration tests therefore hold this gate
/// shared, and the restart tests hold it exclusively: they wait for running tests to
/// finish, and tests that start meanwhile wait for them.
actor ServerGate {
    static let shared = ServerGate()

    private var readers = 0
    private var writer = false
    private var waitingReaders: [CheckedContinuation<Void, Never>] = []
    private var waitingWriters: [CheckedContinuation<Void, Never>] = []

    private func acquireShared() async {
        if !writer && waitingWriters.isEmpty {
            readers += 1
            return
        }
        // The releasing writer counts us in before resuming us.
        await withCheckedContinuation { waitingReaders.append($0) }
    }

    private func releaseShared() {
        readers -= 1
        if readers == 0 && !waitingWriters.isEmpty {
            writer = true
            waitingWriters.removeFirst().resume()
        }
    }

    private func acquireExclusive() async {
        if !writer && readers == 0 {
            writer = true
            return
        }
        await withCheckedContinuation { waitingWriters.append($0) }
    }

    private func releaseExclusive() {
        if !waitingWriters.isEmpty {
            waitingWriters.removeFirst().resume()
            return
        }
        writer = false
        readers += waitingReaders.count
        let readers = waitingReaders
        waitingReaders = []
        readers.forEach { $0.resume() }
    }

    nonisolated func shared<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        await acquireShared()
        do {
            let value = try await body()
            await releaseShared()
            return value
        } catch {
            await releaseShared()
            throw error
        }
    }

    nonisolated func exclusive<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        await acquireExclusive()
        do {
            let value = try await body()
            await releaseExclusive()
            return value
        } catch {
            await releaseExclusive()
            throw error
        }
    }
}

/// The test server's configuration; a missing `SAMPARK_TEST_POSTGRES_URL` fails the test.
func testConfiguration(applicationName: String? = nil) throws -> PostgresConfiguration {
    var configuration = try PostgresConfiguration(url: TestEnvironment.postgresURL())
    configuration.applicationName = applicationName ?? "sampark-tests"
    configuration.connectTimeout = 5
    return configuration
}

/// Runs `body` with a fresh pool and a schema of its own (dropped afterwards), holding the
/// server gate shared.
func withTestPool<T: Sendable>(
    size: Int = 2, applicationName: String? = nil,
    _ body: @Sendable (PostgresPool, String) async throws -> T
) async throws -> T {
    let configuration = try testConfiguration(applicationName: applicationName)
    return try await ServerGate.shared.shared {
        let pool = PostgresPool(configuration: configuration, size: size)
        let schema = TestEnvironment.uniqueName("pgtest")
        do {
            // Identifiers cannot be parameters; this one is generated, not input.
            try await pool.execute("CREATE SCHEMA \(schema)")
            let value = try await body(pool, schema)
            _ = try? await pool.execute("DROP SCHEMA \(schema) CASCADE")
            await pool.shutdown()
            return value
        } catch {
            _ = try? await pool.execute("DROP SCHEMA \(schema) CASCADE")
            await pool.shutdown()
            throw error
        }
    }
}

/// A thread-safe counter for closures that run on connection threads.
final class Counter: Sendable {
    private let state = Mutex((value: 0, maximum: 0))

    @discardableResult
    func increment() -> Int {
        state.withLock { state in
            state.value += 1
            state.maximum = max(state.maximum, state.value)
            return state.value
        }
    }

    func decrement() { state.withLock { $0.value -= 1 } }
    var value: Int { state.withLock { $0.value } }
    var maximum: Int { state.withLock { $0.maximum } }
}

struct TestFailure: Error, Equatable {
    let reason: String
}

/// Holds threads until `parties` of them have arrived. For closures that run on connection
/// threads (never on Swift's cooperative threads, which must not block), to make two
/// transactions interleave the same way every time.
///
/// `@unchecked Sendable`: `arrived` is read and written only while `condition` is locked.
final class ThreadBarrier: @unchecked Sendable {
    private let condition = NSCondition()
    private let parties: Int
    private var arrived = 0

    init(parties: Int) { self.parties = parties }

    /// Waits for the others; false if they did not all arrive within `timeout` seconds
    /// (the caller then fails rather than hangs).
    func arriveAndWait(timeout: TimeInterval = 15) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        arrived += 1
        if arrived >= parties {
            condition.broadcast()
            return true
        }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while arrived < parties {
            if !condition.wait(until: deadline) { return arrived >= parties }
        }
        return true
    }
}

/// A thread-safe list, for recording what closures on connection threads saw.
final class Recorder<Element: Sendable>: Sendable {
    private let items = Mutex<[Element]>([])
    func append(_ item: Element) { items.withLock { $0.append(item) } }
    var all: [Element] { items.withLock { $0 } }
}

struct DeadlineExceeded: Error, CustomStringConvertible {
    let what: String
    let seconds: Double
    var description: String { "\(what) did not finish within \(seconds) s (a hang)" }
}

/// Resumes a continuation once, whoever comes first.
private final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, any Error>?>
    init(_ continuation: CheckedContinuation<T, any Error>) { self.continuation = Mutex(continuation) }

    @discardableResult
    func resume(_ result: Result<T, any Error>) -> Bool {
        let continuation = self.continuation.withLock { slot in
            let taken = slot
            slot = nil
            return taken
        }
        continuation?.resume(with: result)
        return continuation != nil
    }
}

/// Runs `operation` and fails with ``DeadlineExceeded`` if it has not finished after
/// `seconds`: a hang check, not a performance assertion. The operation runs in a task of its
/// own (cancelled at the deadline), so even one that ignores cancellation cannot keep the
/// caller waiting past the deadline.
func withDeadline<T: Sendable>(
    seconds: Double, _ what: String, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        let once = ResumeOnce(continuation)
        let work = Task {
            do { once.resume(.success(try await operation())) } catch { once.resume(.failure(error)) }
        }
        Task {
            try? await Task.sleep(for: .seconds(seconds))
            if once.resume(.failure(DeadlineExceeded(what: what, seconds: seconds))) { work.cancel() }
        }
    }
}

/// `scripts/services.sh <argument>` on a thread of its own: it blocks for seconds, which
/// must not happen on one of Swift's (two, on a two-core machine) cooperative threads.
func runServices(_ argument: String) async throws {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        let thread = Thread {
            do {
                try TestEnvironment.services(argument)
                continuation.resume()
            } catch {
                continuation.resume(throwing: error)
            }
        }
        thread.start()
    }
}

/// The server process id of the connection the pool lends next.
func backendPID(_ pool: PostgresPool) async throws -> Int32 {
    try await pool.withConnection { conn in
        guard let row = try conn.query("SELECT pg_backend_pid() AS pid").first else {
            throw TestFailure(reason: "SELECT pg_backend_pid() returned no row")
        }
        return try row["pid", as: Int32.self]
    }
}

/// Waits (bounded) until a session of `applicationName` runs a query starting with `queryPrefix`.
func waitUntilQueryActive(applicationName: String, queryPrefix: String) async throws {
    let observer = PostgresPool(configuration: try testConfiguration(applicationName: "sampark-tests-observer"), size: 1)
    do {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let rows = try await observer.query(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND starts_with(query, $2)",
                [applicationName, queryPrefix])
            if (try rows.first?["n", as: Int.self] ?? 0) > 0 {
                await observer.shutdown()
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure(reason: "the query never became active")
    } catch {
        await observer.shutdown()
        throw error
    }

}
