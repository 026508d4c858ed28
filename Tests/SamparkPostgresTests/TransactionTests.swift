import Foundation
import SamparkPostgres
import Testing

/// Transactions against the real server from `SAMPARK_TEST_POSTGRES_URL`.
@Suite struct TransactionTests {
    @Test func throwingBodyRollsBack() async throws {
        try await withTestPool(size: 1) { pool, schema in
            let table = "\(schema).lists"
            try await pool.execute("CREATE TABLE \(table) (id integer PRIMARY KEY, name text NOT NULL)")
            let failure = TestFailure(reason: "validation failed after the insert")
            await #expect(throws: failure) {
                try await pool.transaction { conn in
                    try conn.execute("INSERT INTO \(table) VALUES ($1, $2)", [1, "first"])
                    // Visible inside the transaction...
                    let inside = try conn.query("SELECT count(*) AS n FROM \(table)").first?["n", as: Int.self]
                    guard inside == 1 else { throw TestFailure(reason: "insert not visible inside the transaction") }
                    throw failure
                }
            }
            // ...and gone after it.
            #expect(try await pool.query("SELECT count(*) AS n FROM \(table)").first?["n", as: Int.self] == 0)
            // The connection is back out of the transaction and works.
            let inTransaction = try await pool.withConnection { conn in conn.isInTransaction }
            #expect(!inTransaction)
            _ = try await pool.transaction { conn in
                try conn.execute("INSERT INTO \(table) VALUES ($1, $2)", [1, "second"])
            }
            #expect(try await pool.query("SELECT name FROM \(table)").first?["name", as: String.self] == "second")
        }
    }

    /// Classic write skew: two doctors on call, each may go off call if the other stays on.
    /// Both read (two on call) before either writes; SERIALIZABLE must fail one with 40001,
    /// and the pool re-runs it, which then sees one on call and stays.
    @Test func serializationFailureIsRetried() async throws {
        try await withTestPool(size: 2) { pool, schema in
            let table = "\(schema).doctors"
            try await pool.execute("CREATE TABLE \(table) (id integer PRIMARY KEY, on_call boolean NOT NULL)")
            try await pool.execute("INSERT INTO \(table) VALUES (1, true), (2, true)")

            let barrier = ThreadBarrier(parties: 2)
            let attempts = Counter()
            let seen = Recorder<String>()
            let goOffCall: @Sendable (Int) async throws -> Bool = { id in
                let mine = Counter()
                // Generous attempts: under a loaded machine the retries themselves can collide again
                // (SSI may abort either side); the test is about retrying, not about how often.
                return try await pool.transaction(isolation: .serializable, retry: PostgresRetryPolicy(maxAttempts: 20)) { conn in
                    attempts.increment()
                    let attempt = mine.increment()
                    do {
                        let onCall = try conn.query("SELECT count(*) AS n FROM \(table) WHERE on_call").first?["n", as: Int.self] ?? 0
                        // First attempts only: both have read before either writes.
                        if attempt == 1, !barrier.arriveAndWait() {
                            throw TestFailure(reason: "the other transaction never reached the barrier")
                        }
                        guard onCall >= 2 else { return false }
                        try conn.execute("UPDATE \(table) SET on_call = false WHERE id = $1", [id])
                        return true
                    } catch let error as PostgresError {
                        seen.append(error.code?.rawValue ?? "none")
                        throw error
                    }
                }
            }
            async let first = goOffCall(1)
            async let second = goOffCall(2)
            let outcomes = try await [first, second]

            // Both committed (no error), exactly one of them went off call.
            #expect(outcomes.filter { $0 }.count == 1)
            #expect(attempts.value > 2)
            // Failures seen inside bodies (the 40001 may also come at COMMIT) are
            // serialization failures only.
            #expect(seen.all.allSatisfy { $0 == PostgresError.Code.serializationFailure.rawValue })
            // The invariant holds: someone is still on call.
            let onCall = try await pool.query("SELECT count(*) FILTER (WHERE on_call) AS n FROM \(table)")
            #expect(try onCall.first?["n", as: Int.self] == 1)
        }
    }

    /// Two transactions lock the same two rows in opposite order; the server breaks the
    /// deadlock by failing one with 40P01, and the pool re-runs it.
    @Test func deadlockIsRetried() async throws {
        try await withTestPool(size: 2) { pool, schema in
            let table = "\(schema).accounts"
            try await pool.execute("CREATE TABLE \(table) (id integer PRIMARY KEY, touched integer NOT NULL)")
            try await pool.execute("INSERT INTO \(table) VALUES (1, 0), (2, 0)")

            let barrier = ThreadBarrier(parties: 2)
            let attempts = Counter()
            let seen = Recorder<String>()
            let touchBoth: @Sendable (Int, Int) async throws -> Void = { firstID, secondID in
                let mine = Counter()
                try await pool.transaction(retry: PostgresRetryPolicy(maxAttempts: 20)) { conn in
                    attempts.increment()
                    let attempt = mine.increment()
                    do {
                        try conn.execute("UPDATE \(table) SET touched = touched + 1 WHERE id = $1", [firstID])
                        // First attempts only: each holds its first row before asking for the other.
                        if attempt == 1, !barrier.arriveAndWait() {
                            throw TestFailure(reason: "the other transaction never reached the barrier")
                        }
                        try conn.execute("UPDATE \(table) SET touched = touched + 1 WHERE id = $1", [secondID])
                    } catch let error as PostgresError {
                        seen.append(error.code?.rawValue ?? "none")
                        throw error
                    }
                }
            }
            async let forward: Void = touchBoth(1, 2)
            async let backward: Void = touchBoth(2, 1)
            _ = try await (forward, backward)

            #expect(attempts.value > 2)
            #expect(seen.all.contains(PostgresError.Code.deadlockDetected.rawValue))
            #expect(seen.all.allSatisfy { $0 == PostgresError.Code.deadlockDetected.rawValue })
            // Each transaction applied exactly once: the failed attempt's update was rolled back.
            let rows = try await pool.query("SELECT id, touched FROM \(table) ORDER BY id")
            #expect(try rows.map { try $0["touched", as: Int.self] } == [2, 2])
        }
    }

    @Test func caughtStatementFailureFailsAtCommit() async throws {
        try await withTestPool(size: 1) { pool, schema in
            let table = "\(schema).lists"
            try await pool.execute("CREATE TABLE \(table) (id integer PRIMARY KEY)")
            let attempts = Counter()
            let error = try await #require(throws: PostgresError.self) {
                try await pool.transaction { conn -> Int in
                    attempts.increment()
                    try conn.execute("INSERT INTO \(table) VALUES (1)")
                    do {
                        try conn.execute("INSERT INTO \(table) VALUES (1)")  // duplicate key
                    } catch {
                        // Swallowed: the body returns normally, but the transaction is aborted.
                    }
                    return 42
                }
            }
            #expect(error.kind == .server)
            #expect(error.code == .inFailedSQLTransaction)
            #expect(!error.retryable)
            #expect(attempts.value == 1)  // not retried
            // The first insert did not commit either.
            #expect(try await pool.query("SELECT count(*) AS n FROM \(table)").first?["n", as: Int.self] == 0)
            // The connection is usable and out of the transaction.
            let inTransaction = try await pool.withConnection { conn in conn.isInTransaction }
            #expect(!inTransaction)
            try await pool.execute("INSERT INTO \(table) VALUES (1)")
            #expect(try await pool.query("SELECT count(*) AS n FROM \(table)").first?["n", as: Int.self] == 1)
        }
    }
}
