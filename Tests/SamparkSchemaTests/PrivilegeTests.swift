import Foundation
import Testing
import SamparkPostgres
import SamparkTestSupport
@testable import SamparkSchema

/// Migration 0009's roles on the real server: each worker's login reaches what its work needs
/// and is refused the rest; a state's analysts see their own state's rows only, never a phone.
/// (The end-to-end tests run every worker under its own login, so a grant the work needs and
/// lacks fails them; these tests prove the refusals.)
@Suite struct PrivilegeTests {
    static let password = "schema-test-login-password"

    /// A database migrated and seeded with two states (MP with a district, RJ), a person and a
    /// report in each, and a login per role; `body` gets a way to run SQL as any of them.
    func withLogins(_ body: (_ as: (String) -> PostgresPool) async throws -> Void) async throws {
        try await withFreshDatabase { configuration in
            let owner = PostgresPool(configuration: configuration, size: 1)
            try await Migrator(pool: owner).migrate()
            try await owner.withConnection { try $0.executeScript("""
                INSERT INTO org_units (id, level, code, name, parent_id, path, state_id) VALUES
                    (1, 'national', 'IN', 'India', NULL, 'IN', 1),
                    (2, 'state', 'MP', 'Madhya Pradesh', 1, 'IN.MP', 2),
                    (3, 'district', 'MP-D1', 'Bhopal', 2, 'IN.MP.D1', 2),
                    (4, 'state', 'RJ', 'Rajasthan', 1, 'IN.RJ', 4);
                INSERT INTO people (name, phone_hash, phone_sealed, phone_tail, role, unit_id) VALUES
                    ('Asha MP', \(TestPhones.sql("+919800000001")), 'president', 3), ('Ravi RJ', \(TestPhones.sql("+919800000002")), 'president', 4);
                INSERT INTO reports (report_id, kind, scope, day, body) VALUES
                    ('daily/2026-12-01/MP', 'daily', 'MP', '2026-12-01', '{}'),
                    ('daily/2026-12-01/MP-D1', 'daily', 'MP-D1', '2026-12-01', '{}'),
                    ('daily/2026-12-01/RJ', 'daily', 'RJ', '2026-12-01', '{}'),
                    ('daily/2026-12-01/national', 'daily', 'national', '2026-12-01', '{}');
                """) }
            let database = configuration.database!
            let logins = ["ingest-worker", "list-builder", "dialer-dispatcher", "feedback-aggregator", "reporter", "analyst"]
            func login(_ role: String) -> String { "\(database)_\(role.replacingOccurrences(of: "-", with: "_"))" }
            var pools: [String: PostgresPool] = [:]
            do {
                for role in logins {
                    try await owner.query("SELECT sampark_db_login($1, $2, $3, $4)",
                                          [login(role), DatabaseRoles.byRole[role]!, Self.password, role == "analyst" ? "MP" : nil])
                    var as_ = configuration
                    as_.user = login(role)
                    as_.password = Self.password
                    pools[role] = PostgresPool(configuration: as_, size: 1)
                }
                // A login with no scope of its own: an analyst's role, but no state granted.
                try await owner.execute("CREATE ROLE \(login("unscoped")) LOGIN PASSWORD '\(Self.password)' IN ROLE sampark_analyst")
                var unscoped = configuration
                unscoped.user = login("unscoped")
                unscoped.password = Self.password
                pools["unscoped"] = PostgresPool(configuration: unscoped, size: 1)
                try await body { pools[$0]! }
            } catch {
                for pool in pools.values { await pool.shutdown() }
                await owner.shutdown()
                await dropLogins((logins + ["unscoped"]).map(login), database: configuration)
                throw error
            }
            for pool in pools.values { await pool.shutdown() }
            await owner.shutdown()
            await dropLogins((logins + ["unscoped"]).map(login), database: configuration)
        }
    }

    func dropLogins(_ names: [String], database configuration: PostgresConfiguration) async {
        guard let url = try? TestEnvironment.postgresURL(), let admin = try? PostgresConfiguration(url: url) else { return }
        let pool = PostgresPool(configuration: admin, size: 1)
        _ = try? await pool.execute("DROP DATABASE IF EXISTS \(configuration.database!) WITH (FORCE)")
        for name in names { _ = try? await pool.execute("DROP ROLE IF EXISTS \(name)") }
        await pool.shutdown()
    }

    /// The SQLSTATE a statement fails with as `pool`'s login, or nil if it succeeds.
    func refusal(_ pool: PostgresPool, _ sql: String) async -> PostgresError.Code? {
        do {
            try await pool.query(sql)
            return nil
        } catch let error as PostgresError {
            return error.code
        } catch {
            return "other"
        }
    }

    @Test func eachWorkerIsRefusedTheTablesItHasNoBusinessWith() async throws {
        try await withLogins { as_ in
            let denied: PostgresError.Code = "42501"
            // What each may not do, beside something it may (so the login itself works).
            let cases: [(role: String, refused: [String], allowed: String)] = [
                ("reporter", ["SELECT phone_sealed FROM contacts", "SELECT phone_hash FROM contacts", "SELECT phone_tail FROM contacts",
                              "SELECT name FROM contacts", "SELECT epic FROM contacts", "SELECT phone_sealed FROM people",
                              "SELECT sampark_claim_phone_keys('\\x00', '{1}', '{}')", "SELECT * FROM opt_outs", "SELECT * FROM attempts",
                              "SELECT * FROM list_entries", "INSERT INTO unit_aggregates (day, campaign_id, unit_id) VALUES ('2026-12-01', 1, 1)",
                              "DELETE FROM processing_log", "UPDATE processing_log SET purpose = 'x'", "SELECT * FROM processing_log"],
                 "SELECT count(*) FROM unit_aggregates"),
                ("ingest-worker", ["SELECT * FROM attempts", "SELECT * FROM reports", "SELECT * FROM person_corrections",
                                   "SELECT * FROM list_entries", "SELECT * FROM escalations"],
                 "SELECT count(*) FROM contacts"),
                ("list-builder", ["SELECT * FROM reports", "SELECT * FROM escalations", "SELECT * FROM person_corrections",
                                  "INSERT INTO opt_outs (phone_hash) VALUES ('\\x00')", "DELETE FROM contacts",
                                  "DELETE FROM processing_log", "SELECT sampark_erase('+919800000001', 'k', 'w', 'p')"],
                 "SELECT count(*) FROM contacts"),
                ("dialer-dispatcher", ["SELECT * FROM reports", "SELECT * FROM person_corrections", "SELECT * FROM unit_aggregates",
                                       "UPDATE contacts SET name = 'x'", "UPDATE call_centres SET seats = 1"],
                 "SELECT count(*) FROM offers"),
                ("feedback-aggregator", ["SELECT epic FROM contacts", "SELECT phone_sealed FROM contacts", "SELECT phone_sealed FROM people",
                                         "SELECT * FROM reports",
                                         "SELECT * FROM ingest_rejects", "DELETE FROM attempts"],
                 "SELECT count(*) FROM attempts"),
                ("analyst", ["SELECT phone_sealed FROM people", "SELECT phone_hash FROM people", "SELECT count(*) FROM contacts", "SELECT * FROM attempts",
                             "SELECT * FROM opt_outs", "SELECT * FROM offers", "INSERT INTO reports (report_id, kind, scope, day, body) VALUES ('x', 'daily', 'MP', '2026-12-01', '{}')"],
                 "SELECT count(*) FROM reports"),
            ]
            for item in cases {
                for sql in item.refused {
                    #expect(await refusal(as_(item.role), sql) == denied, "\(item.role): \(sql)")
                }
                #expect(await refusal(as_(item.role), item.allowed) == nil, "\(item.role): \(item.allowed)")
                // No worker may touch the schema's history or create a table of its own.
                #expect(await refusal(as_(item.role), "DELETE FROM schema_migrations") == denied, "\(item.role)")
                #expect(await refusal(as_(item.role), "CREATE TABLE public.mine (x int)") == denied, "\(item.role)")
            }
        }
    }

    @Test func aLoginGivenAnotherRoleKeepsOnlyThatOne() async throws {
        try await withLogins { as_ in
            // The reporter's login made a dispatcher's: it loses the reporter's grants.
            let reporter = as_("reporter")
            #expect(await refusal(reporter, "SELECT count(*) FROM unit_aggregates") == nil)
            let who = try await reporter.query("SELECT current_user::text, current_database()::text")[0]
            let name = try who.decode(String.self, at: 0)
            var owner = try PostgresConfiguration(url: TestEnvironment.postgresURL())
            owner.database = try who.decode(String.self, at: 1)
            func relogin(_ password: String) async throws {
                let pool = PostgresPool(configuration: owner, size: 1)
                try await pool.query("SELECT sampark_db_login($1, 'sampark_dispatch', $2, NULL)", [name, password])
                await pool.shutdown()
            }
            func loggedIn(_ password: String) -> PostgresPool {
                var configuration = owner
                configuration.user = name
                configuration.password = password
                return PostgresPool(configuration: configuration, size: 1)
            }
            try await relogin(Self.password)
            let again = loggedIn(Self.password)
            #expect(await refusal(again, "SELECT count(*) FROM unit_aggregates") == "42501", "no longer a reporter")
            #expect(await refusal(again, "SELECT count(*) FROM offers") == nil, "now a dispatcher")
            await again.shutdown()
            // Run again with a new password: the old one no longer logs in.
            try await relogin(Self.password + "-rotated")
            let old = loggedIn(Self.password), rotated = loggedIn(Self.password + "-rotated")
            #expect(await refusal(old, "SELECT 1") != nil, "the old password is refused")
            #expect(await refusal(rotated, "SELECT count(*) FROM offers") == nil)
            await old.shutdown()
            await rotated.shutdown()
        }
    }

    /// An erasure never runs beside a list build: a build holds the lock shared for its whole
    /// transaction, and the erasure waits for it (here, past its lock timeout, it gives up).
    @Test func anErasureWaitsForAListBuildInProgress() async throws {
        try await withFreshDatabase { configuration in
            let setup = PostgresPool(configuration: configuration, size: 1)
            try await Migrator(pool: setup).migrate()
            await setup.shutdown()
            let building = PostgresPool(configuration: configuration, size: 1), erasing = PostgresPool(configuration: configuration, size: 1)
            let held = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
            // The lock a list build takes first (ListBuildHandler), held until we say so.
            let build = Task {
                try await building.transaction { connection in
                    try connection.execute("SELECT pg_advisory_xact_lock_shared(1397771595)")
                    held.signal()
                    _ = done.wait(timeout: .now() + 30)
                }
            }
            let deadline = ContinuousClock.now + .seconds(20)
            while held.wait(timeout: .now()) != .success, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            let code: PostgresError.Code? = await {
                do {
                    try await erasing.transaction { connection in
                        try connection.execute("SET LOCAL lock_timeout = '300ms'")
                        _ = try connection.query("SELECT sampark_erase('+919800000001', 'schema-test-phone-hash-key-0123456789', 'w', 'p')")
                    }
                    return nil
                } catch let error as PostgresError {
                    return error.code
                } catch {
                    return "other"
                }
            }()
            done.signal()
            try await build.value
            #expect(code == .lockNotAvailable, "the erasure waited on the build's lock")
            // Once the build is done, it goes through.
            try await erasing.query("SELECT sampark_erase('+919800000001', 'schema-test-phone-hash-key-0123456789', 'w', 'p')")
            #expect(try await erasing.query("SELECT count(*)::int FROM erased_phones")[0].decode(Int.self, at: 0) == 1)
            await building.shutdown()
            await erasing.shutdown()
        }
    }

    @Test func everyTableIsGrantedToARoleOrIsTheOwnersAlone() async throws {
        try await withFreshDatabase { configuration in
            let pool = PostgresPool(configuration: configuration, size: 1)
            try await Migrator(pool: pool).migrate()
            // A table a new migration adds without a grant would leave the workers unable to
            // use it (the end-to-end tests would say so) or, worse, be reached as the owner.
            let ungranted = try await pool.query("""
                SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relispartition = false
                  AND NOT EXISTS (SELECT 1 FROM information_schema.role_table_grants g
                                  WHERE g.table_name = c.relname AND g.grantee LIKE 'sampark\\_%')
                  AND NOT EXISTS (SELECT 1 FROM information_schema.role_column_grants g
                                  WHERE g.table_name = c.relname AND g.grantee LIKE 'sampark\\_%')
                ORDER BY 1
                """).map { try $0.decode(String.self, at: 0) }
            #expect(ungranted == ["phone_seal_keys", "schema_migrations"],
                    "only the migrator's own table and the keys' check values (kept by sampark_claim_phone_keys) are the owner's alone")
            // A refused role name is refused by name, and a short password too.
            await #expect(throws: PostgresError.self) {
                try await pool.query("SELECT sampark_db_login('x_login', 'pg_read_all_data', 'long-enough-password', NULL)")
            }
            await #expect(throws: PostgresError.self) {
                try await pool.query("SELECT sampark_db_login('x_login', 'sampark_reports', 'short', NULL)")
            }
            // A role's own name (or the owner's) can never become a login.
            for login in ["sampark_reports", "sampark_analyst", configuration.user ?? "sampark"] {
                await #expect(throws: PostgresError.self, "\(login)") {
                    try await pool.query("SELECT sampark_db_login($1, 'sampark_ingest', 'long-enough-password', NULL)", [login])
                }
            }
            #expect(try await pool.query("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'sampark_reports'")[0].decode(Bool.self, at: 0) == false)
            await pool.shutdown()
        }
    }
}
