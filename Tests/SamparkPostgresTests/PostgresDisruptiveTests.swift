import Foundation
import SamparkPostgres
import SamparkTestSupport
import Testing

/// Server restarts. They break every connection to the server, so they hold the server gate
/// exclusively, run one at a time, and CI runs them on their own
/// (`swift test --filter Disruptive --no-parallel`).
@Suite(.serialized) struct PostgresDisruptiveTests {
    /// A fresh pool and schema, holding the gate exclusively (so no other test in this
    /// process is using the server meanwhile).
    static func withExclusivePool<T: Sendable>(
        size: Int, applicationName: String? = nil,
        _ body: @Sendable (PostgresPool, String) async throws -> T
    ) async throws -> T {
        let configuration = try testConfiguration(applicationName: applicationName)
        return try await ServerGate.shared.exclusive {
            let pool = PostgresPool(configuration: configuration, size: size)
            let schema = TestEnvironment.uniqueName("pgtest")
            let dropSchema: @Sendable () async -> Void = {
                _ = try? await untilServerAnswers("DROP SCHEMA") { try await pool.execute("DROP SCHEMA \(schema) CASCADE") }
            }
            do {
                try await pool.execute("CREATE SCHEMA \(schema)")
                let value = try await body(pool, schema)
                await dropSchema()
                await pool.shutdown()
                return value
            } catch {
                await dropSchema()
                await pool.shutdown()
                throw error
            }
        }
    }

    /// Runs `operation` until it succeeds, for up to `seconds`. Every failure in between must
    /// be transient (anything else is thrown at once), and every attempt has a deadline, so a
    /// hang fails the test instead of stalling it. Returns the value and the errors seen.
    static func untilServerAnswers<T: Sendable>(
        _ what: String, within seconds: Int = 30, _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> (value: T, errors: [PostgresError]) {
        let deadline = ContinuousClock.now + .seconds(seconds)
        var errors: [PostgresError] = []
        while true {
            do {
                let value = try await withDeadline(seconds: 15, what, operation)
                return (value, errors)
            } catch let error as PostgresError where error.retryable {
                errors.append(error)
                guard ContinuousClock.now < deadline else { throw error }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    /// Restarts PostgreSQL (`scripts/services.sh restart-postgres`, a fast shutdown), with a
    /// bound that only a hang exceeds.
    static func restartPostgres() async throws {
        try await withDeadline(seconds: 180, "scripts/services.sh restart-postgres") {
            try await runServices("restart-postgres")
        }
    }

    static func expectTransientConnectionTrouble(_ errors: [PostgresError], sourceLocation: SourceLocation = #_sourceLocation) {
        for error in errors {
            #expect(error.retryable, "\(error)", sourceLocation: sourceLocation)
            let connectionTrouble = error.isConnectionError
                || [.adminShutdown, .crashShutdown, .cannotConnectNow].contains(error.code)
            #expect(connectionTrouble, "\(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func poolSurvivesRestartAndCommittedDataRemains() async throws {
        try await Self.withExclusivePool(size: 2) { pool, schema in
            let table = "\(schema).orders"
            try await pool.execute("CREATE TABLE \(table) (id integer PRIMARY KEY, label text NOT NULL)")
            try await pool.transaction { conn in
                try conn.execute("INSERT INTO \(table) SELECT g, 'order ' || g FROM generate_series(1, 1000) AS g")
                try conn.execute("INSERT INTO \(table) VALUES ($1, $2)", [1001, "मध्य प्रदेश"])
            }
            // Open both connections, so that both sit idle (and go stale) across the restart.
            async let one = pool.withConnection { conn in
                try conn.query("SELECT pg_backend_pid() AS pid, pg_sleep(0.2) AS slept").first?["pid", as: Int32.self]
            }
            async let two = pool.withConnection { conn in
                try conn.query("SELECT pg_backend_pid() AS pid, pg_sleep(0.2) AS slept").first?["pid", as: Int32.self]
            }
            let pidsBefore = try await [one, two]
            #expect(Set(pidsBefore).count == 2)
            #expect(pool.statistics.open == 2)
            let startedBefore = try await pool.query("SELECT pg_postmaster_start_time()::text AS t").first?["t", as: String.self]

            try await Self.restartPostgres()

            let (count, errors) = try await Self.untilServerAnswers("a query after the restart") {
                try await pool.query("SELECT count(*) AS n, sum(id) AS s FROM \(table)")
            }
            Self.expectTransientConnectionTrouble(errors)
            // The data committed before the restart is all there.
            #expect(try count.first?["n", as: Int.self] == 1001)
            #expect(try count.first?["s", as: Int.self] == 1001 * 1002 / 2)
            #expect(try await pool.query("SELECT label FROM \(table) WHERE id = 1001").first?["label", as: String.self] == "मध्य प्रदेश")
            // It really restarted, and the pool works in full: both connections, transactions.
            let startedAfter = try await pool.query("SELECT pg_postmaster_start_time()::text AS t").first?["t", as: String.self]
            #expect(startedAfter != startedBefore)
            let (_, transactionErrors) = try await Self.untilServerAnswers("a transaction after the restart") {
                try await pool.transaction { conn in
                    try conn.execute("INSERT INTO \(table) VALUES ($1, $2)", [1002, "after"])
                }
            }
            Self.expectTransientConnectionTrouble(transactionErrors)
            async let three = pool.withConnection { conn in
                try conn.query("SELECT pg_sleep(0.2) AS slept, 1 AS one").first?["one", as: Int.self]
            }
            async let four = pool.withConnection { conn in
                try conn.query("SELECT pg_sleep(0.2) AS slept, 1 AS one").first?["one", as: Int.self]
            }
            #expect(try await [three, four] == [1, 1])
            #expect(pool.statistics.open <= 2)
            #expect(try await pool.query("SELECT count(*) AS n FROM \(table)").first?["n", as: Int.self] == 1002)
        }
    }

    @Test func queryInFlightDuringRestartFailsPromptly() async throws {
        let applicationName = TestEnvironment.uniqueName("sampark_restart_inflight")
        try await Self.withExclusivePool(size: 2, applicationName: applicationName) { pool, _ in
            let sleeper = Task { try await pool.query("SELECT pg_sleep(30)") }
            try await waitUntilQueryActive(applicationName: applicationName, queryPrefix: "SELECT pg_sleep(30)")

            let restart = Task { try await Self.restartPostgres() }
            // 20 s against a 30 s sleep: an error must come when the server goes down, not
            // when the sleep would have ended (a hang check, not a timing assertion).
            let outcome: Result<PostgresRows, any Error>
            do {
                outcome = .success(try await withDeadline(seconds: 20, "the in-flight query during a restart") {
                    try await sleeper.value
                })
            } catch {
                outcome = .failure(error)
            }
            // Whatever happened, let the restart finish before anything else uses the server.
            try await restart.value

            guard case .failure(let failure) = outcome else {
                Issue.record("the in-flight query succeeded across a server restart")
                return
            }
            let error = try #require(failure as? PostgresError, "expected a PostgresError, got \(failure)")
            #expect(error.retryable, "\(error)")
            #expect(error.isConnectionError, "\(error)")
            #expect(!error.commitOutcomeUnknown)

            // The pool recovers: the broken connection was discarded.
            let (one, errors) = try await Self.untilServerAnswers("a query after the restart") {
                try await pool.query("SELECT 1 AS one")
            }
            Self.expectTransientConnectionTrouble(errors)
            #expect(try one.first?["one", as: Int.self] == 1)
            #expect(pool.statistics.open <= 2)
        }
    }
}
