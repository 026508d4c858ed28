import Dispatch
import Foundation
import SamparkPostgres
import SamparkTestSupport
import Synchronization
import Testing

/// The pool against the real server from `SAMPARK_TEST_POSTGRES_URL`.
@Suite struct PoolTests {
    @Test func neverOpensMoreThanSizeConnections() async throws {
        let applicationName = TestEnvironment.uniqueName("sampark_pool_bound")
        try await withTestPool(size: 3, applicationName: applicationName) { pool, _ in
            let inBodies = Counter()
            let backendsSeen = Recorder<Int>()
            let openSeen = Recorder<Int>()
            let done = try await withThrowingTaskGroup(of: Int.self) { group in
                for caller in 0..<20 {
                    group.addTask {
                        try await pool.withConnection { conn in
                            inBodies.increment()
                            defer { inBodies.decrement() }
                            openSeen.append(pool.statistics.open)
                            let row = try conn.query("""
                                SELECT (SELECT count(*) FROM pg_stat_activity WHERE application_name = $1) AS backends,
                                       pg_sleep(0.05) AS slept
                                """, [applicationName]).first
                            backendsSeen.append(try row?["backends", as: Int.self] ?? -1)
                            openSeen.append(pool.statistics.open)
                            return caller
                        }
                    }
                }
                var finished: [Int] = []
                for try await caller in group { finished.append(caller) }
                return finished
            }
            #expect(done.sorted() == Array(0..<20))
            #expect(backendsSeen.all.count == 20)
            #expect(backendsSeen.all.allSatisfy { (1...3).contains($0) }, "backends seen: \(backendsSeen.all)")
            #expect(openSeen.all.allSatisfy { $0 <= 3 }, "open seen: \(openSeen.all)")
            #expect(inBodies.maximum <= 3)
            let statistics = pool.statistics
            #expect(statistics.open <= 3)
            #expect(statistics.waiting == 0)
            #expect(statistics.idle == statistics.open)
            // And the server agrees once everything is back.
            let backends = try await pool.query("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1", [applicationName])
            #expect((try backends.first?["n", as: Int.self] ?? 99) <= 3)
        }
    }

    /// Idle connections are validated before they are lent (the default): a connection the
    /// server terminated while idle is replaced transparently, and its caller never sees it.
    @Test func idleConnectionKilledByServerIsReplacedTransparently() async throws {
        try await withTestPool(size: 1) { pool, _ in
            let victim = try await backendPID(pool)
            try await Self.terminate(victim)

            // The next caller gets a fresh connection, without an error.
            let replacement = try await backendPID(pool)
            #expect(replacement != victim)
            #expect(pool.statistics.open == 1)
            #expect(try await pool.query("SELECT 1 AS one").first?["one", as: Int.self] == 1)
            #expect(try await backendPID(pool) == replacement)
        }
    }

    /// Without validation the dead connection is only found out by using it: that caller
    /// gets a transient connection error (never a hang), and the next gets a fresh one.
    @Test func killedConnectionWithoutValidationFailsOnceRetryably() async throws {
        let configuration = try testConfiguration()
        try await ServerGate.shared.shared {
            let pool = PostgresPool(configuration: configuration, size: 1, validatesIdleConnections: false)
            do {
                let victim = try await backendPID(pool)
                try await Self.terminate(victim)

                let error = try await #require(throws: PostgresError.self) {
                    try await withDeadline(seconds: 20, "a query on a terminated connection") {
                        try await pool.query("SELECT 1 AS one")
                    }
                }
                #expect(error.isConnectionError)
                #expect(error.kind == .connectionLost)
                #expect(error.retryable)
                #expect(!error.commitOutcomeUnknown)

                // The broken connection was discarded; the next caller gets a fresh one.
                let replacement = try await backendPID(pool)
                #expect(replacement != victim)
                #expect(pool.statistics.open == 1)
                #expect(try await pool.query("SELECT 1 AS one").first?["one", as: Int.self] == 1)
                await pool.shutdown()
            } catch {
                await pool.shutdown()
                throw error
            }
        }
    }

    /// A connection terminated while its caller's query runs: that caller gets a transient
    /// connection error promptly, and the pool replaces the connection.
    @Test func connectionKilledMidQueryFailsRetryablyAndIsReplaced() async throws {
        let applicationName = TestEnvironment.uniqueName("sampark_pool_kill")
        try await withTestPool(size: 1, applicationName: applicationName) { pool, _ in
            let victim = try await backendPID(pool)
            let sleeper = Task {
                try await pool.query("SELECT pg_sleep(30)")
            }
            try await waitUntilQueryActive(applicationName: applicationName, queryPrefix: "SELECT pg_sleep(30)")
            try await Self.terminate(victim)

            let error = try await #require(throws: PostgresError.self) {
                try await withDeadline(seconds: 20, "a query whose connection was terminated") {
                    try await sleeper.value
                }
            }
            #expect(error.isConnectionError)
            #expect(error.retryable)

            let replacement = try await backendPID(pool)
            #expect(replacement != victim)
            #expect(pool.statistics.open == 1)
        }
    }

    @Test func shutdownFailsWaitersWithPoolClosed() async throws {
        let configuration = try testConfiguration()
        try await ServerGate.shared.shared {
            let pool = PostgresPool(configuration: configuration, size: 1)
            let release = DispatchSemaphore(value: 0)
            let holding = DispatchSemaphore(value: 0)
            // The one connection is busy until we say so.
            let holder = Task {
                try await pool.withConnection { conn -> Int in
                    let one = try conn.query("SELECT 1 AS one").first?["one", as: Int.self] ?? 0
                    holding.signal()
                    _ = release.wait(timeout: .now() + 30)
                    return one
                }
            }
            var waiters: [Task<PostgresRows, Error>] = []
            do {
                // The holder has the connection before the callers come (started together, a
                // caller could take it first and the holder would be the one queued), then
                // wait (bounded) until all three callers are queued.
                let deadline = ContinuousClock.now + .seconds(20)
                while holding.wait(timeout: .now()) != .success {
                    guard ContinuousClock.now < deadline else { throw TestFailure(reason: "the holder never ran: \(pool.statistics)") }
                    try await Task.sleep(for: .milliseconds(10))
                }
                waiters = (0..<3).map { _ in Task { try await pool.query("SELECT 2 AS two") } }
                while pool.statistics.waiting != 3 {
                    guard ContinuousClock.now < deadline else {
                        throw TestFailure(reason: "the callers never queued: \(pool.statistics)")
                    }
                    try await Task.sleep(for: .milliseconds(10))
                }
            } catch {
                release.signal()
                await pool.shutdown()
                throw error
            }

            await pool.shutdown()
            for waiter in waiters {
                let error = try await #require(throws: PostgresError.self) {
                    try await withDeadline(seconds: 20, "a waiter after shutdown") { try await waiter.value }
                }
                #expect(error.kind == .poolClosed)
                #expect(!error.retryable)
            }
            // Newcomers are refused too.
            let late = try await #require(throws: PostgresError.self) { try await pool.query("SELECT 3") }
            #expect(late.kind == .poolClosed)

            // The busy connection finishes its work and is closed when it comes back.
            release.signal()
            #expect(try await holder.value == 1)
            #expect(pool.statistics.open == 0)
            #expect(pool.statistics.waiting == 0)
        }
    }

    // MARK: - Helpers

    /// Terminates a backend from another session and waits until it has exited.
    static func terminate(_ pid: Int32) async throws {
        let killer = PostgresPool(configuration: try testConfiguration(applicationName: "sampark-tests-killer"), size: 1)
        do {
            // With a timeout, pg_terminate_backend waits for the backend to exit.
            let rows = try await killer.query("SELECT pg_terminate_backend($1, 10000) AS ok", [pid])
            #expect(try rows.first?["ok", as: Bool.self] == true)
            await killer.shutdown()
        } catch {
            await killer.shutdown()
            throw error
        }
    }
}
