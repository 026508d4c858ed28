import Foundation
import Testing
import SamparkPostgres
import SamparkTestSupport
@testable import SamparkSchema

/// Each test gets a database of its own, dropped afterwards.
func withFreshDatabase<T: Sendable>(_ body: (PostgresConfiguration) async throws -> T) async throws -> T {
    try await TestDatabase.with("schema", body)
}

@Suite struct MigratorTests {
    @Test func aFreshDatabaseGetsEveryMigrationAndASecondRunDoesNothing() async throws {
        try await withFreshDatabase { configuration in
            let pool = PostgresPool(configuration: configuration, size: 2)
            let first = try await Migrator(pool: pool).migrate()
            #expect(first == Migrations.all.map(\.version))
            let tables = try await pool.query("""
                SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name
                """).map { try $0.decode(String.self, at: 0) }
            for table in ["org_units", "people", "contacts", "booth_results", "call_centres", "poll_calendar", "opt_outs",
                          "materials", "campaigns", "call_lists", "list_entries", "attempts", "shift_aggregates", "reports",
                          "inbox", "outbox", "schema_migrations"] {
                #expect(tables.contains(table), "\(table) missing")
            }
            let second = try await Migrator(pool: pool).migrate()
            #expect(second.isEmpty)
            let status = try await Migrator(pool: pool).status()
            #expect(status.pending.isEmpty)
            #expect(status.applied == Migrations.all.map(\.version))
            await pool.shutdown()
        }
    }

    @Test func migratorsStartingTogetherApplyEachMigrationOnce() async throws {
        try await withFreshDatabase { configuration in
            let pools = (0..<4).map { _ in PostgresPool(configuration: configuration, size: 1) }
            let results = try await withThrowingTaskGroup(of: [Int].self) { group in
                for pool in pools { group.addTask { try await Migrator(pool: pool).migrate() } }
                var all: [[Int]] = []
                for try await applied in group { all.append(applied) }
                return all
            }
            #expect(results.flatMap { $0 }.sorted() == Migrations.all.map(\.version), "each applied by exactly one runner")
            let rows = try await pools[0].query("SELECT version FROM schema_migrations ORDER BY version").map { try $0.decode(Int.self, at: 0) }
            #expect(rows == Migrations.all.map(\.version))
            for pool in pools { await pool.shutdown() }
        }
    }

    @Test func aDatabaseNewerThanTheBuildIsRefused() async throws {
        try await withFreshDatabase { configuration in
            let pool = PostgresPool(configuration: configuration, size: 1)
            try await Migrator(pool: pool).migrate()
            try await pool.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES (999, 'future', 'x')")
            let known = Migrations.all.count
            await #expect(throws: Migrator.Failure.databaseIsNewer(databaseVersion: 999, buildVersion: known)) {
                try await Migrator(pool: pool).migrate()
            }
            // An older build (knowing only migration 1 of a database at 2) refuses too, applying nothing.
            let failure = Migrator.Failure.databaseIsNewer(databaseVersion: 999, buildVersion: known)
            #expect(failure.description.contains("upgrade Sampark"))
            await pool.shutdown()
        }
    }

    @Test func anEditedMigrationIsRefusedByVersion() async throws {
        try await withFreshDatabase { configuration in
            let pool = PostgresPool(configuration: configuration, size: 1)
            try await Migrator(pool: pool).migrate()
            var edited = Migrations.all
            edited[0] = Migration(version: 1, name: edited[0].name, sql: edited[0].sql + "\n-- edited")
            await #expect(throws: Migrator.Failure.checksumMismatch(version: 1, file: "0001_initial.sql")) {
                try await Migrator(pool: pool, migrations: edited).migrate()
            }
            await pool.shutdown()
        }
    }

    @Test func aFailingMigrationLeavesNothingBehind() async throws {
        try await withFreshDatabase { configuration in
            let pool = PostgresPool(configuration: configuration, size: 1)
            let broken = [Migration(version: 1, name: "broken", sql: "CREATE TABLE half (id int); SELECT no_such_function();")]
            await #expect(throws: PostgresError.self) { try await Migrator(pool: pool, migrations: broken).migrate() }
            let half = try await pool.query("SELECT to_regclass('half') IS NULL")[0].decode(Bool.self, at: 0)
            #expect(half, "the migration's transaction rolled back")
            let recorded = try await pool.query("SELECT count(*) FROM schema_migrations")[0].decode(Int.self, at: 0)
            #expect(recorded == 0)
            await pool.shutdown()
        }
    }

    @Test func everySQLFileIsCarriedAndNumberedInOrder() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("schemas/sql")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(files == Migrations.all.map(\.fileName))
        for migration in Migrations.all {
            let text = try String(contentsOf: folder.appendingPathComponent(migration.fileName), encoding: .utf8)
            #expect(text == migration.sql, "\(migration.fileName) differs from what the build carries")
        }
    }

    /// A database from before migration 11 holds numbers in clear: `migrate` without the
    /// phone keys refuses, naming the tables, and leaves them as they were; with the keys it
    /// seals every number (contacts, people's main and other numbers, list entries, opt-outs)
    /// and drops the columns in clear.
    @Test func numbersStoredInClearAreSealedByTheMigrationThatNeedsTheKeys() async throws {
        try await withFreshDatabase { configuration in
            let pool = PostgresPool(configuration: configuration, size: 1)
            try await Migrator(pool: pool, migrations: Array(Migrations.all.prefix(10))).migrate()
            try await pool.withConnection { try $0.executeScript("""
                INSERT INTO org_units (id, level, code, name, path, state_id) VALUES (1, 'booth', 'B-1', 'Booth 1', '1', 1);
                INSERT INTO call_centres (id, code, name, seats) VALUES (1, 'C1', 'Centre', 10);
                INSERT INTO contacts (id, phone, name, booth_id, state_id) VALUES (1, '+919800000001', 'A', 1, 1), (2, '+919800000002', 'B', 1, 1);
                INSERT INTO people (id, name, phone, other_phones, role, unit_id) VALUES
                    (1, 'P', '+919810000001', '{+919810000002,+919810000003}', 'booth_president', 1);
                INSERT INTO campaigns (id, code, kind, name) VALUES (1, 'K', 'gotv', 'Poll');
                INSERT INTO call_lists (id, campaign_id, spec) VALUES (1, 1, '{}');
                INSERT INTO list_entries (id, list_id, contact_id, phone, centre_id) VALUES (1, 1, 1, '+919800000001', 1);
                INSERT INTO opt_outs (phone, source) VALUES ('+919800000002', 'helpline');
                """) }
            let refused = await #expect(throws: PhoneVault.Failure.self) { try await Migrator(pool: pool).migrate() }
            #expect(refused?.description.hasPrefix("contacts, people, list_entries, opt_outs hold phone numbers in clear") == true,
                    "\(String(describing: refused))")
            #expect(try await Migrator(pool: pool).status().pending == Migrations.all.map(\.version).filter { $0 > 10 }, "nothing applied")

            try await Migrator(pool: pool, phoneVault: TestPhones.vault).migrate()
            let vault = TestPhones.vault
            func opened(_ sql: String) async throws -> [String] {
                try await pool.query(sql).map { try vault.open([UInt8](try $0.decode(Data.self, at: 0))) }
            }
            #expect(try await opened("SELECT phone_sealed FROM contacts ORDER BY id") == ["+919800000001", "+919800000002"])
            #expect(try await opened("SELECT phone_sealed FROM people") == ["+919810000001"])
            #expect(try await opened("SELECT s FROM people, unnest(other_phones_sealed) WITH ORDINALITY AS x(s, n) ORDER BY n")
                    == ["+919810000002", "+919810000003"])
            #expect(try await opened("SELECT phone_sealed FROM list_entries") == ["+919800000001"])
            let hashes = try await pool.query("""
                SELECT (SELECT phone_hash FROM contacts WHERE id = 1) = (SELECT phone_hash FROM list_entries WHERE id = 1),
                       (SELECT phone_hash FROM opt_outs) = \(TestPhones.hash("+919800000002")),
                       (SELECT other_phone_hashes FROM people) = ARRAY[\(TestPhones.hash("+919810000002")), \(TestPhones.hash("+919810000003"))],
                       (SELECT string_agg(phone_tail, ',' ORDER BY id) FROM contacts)
                """)[0]
            #expect(try hashes.decode(Bool.self, at: 0) && hashes.decode(Bool.self, at: 1) && hashes.decode(Bool.self, at: 2))
            #expect(try hashes.decode(String.self, at: 3) == "0001,0002")
            #expect(try await pool.query("""
                SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' AND column_name IN ('phone', 'other_phones')
                """)[0].decode(Int.self, at: 0) == 0, "no column in clear is left")
            await pool.shutdown()
        }
    }

    /// Gateways' offers written before migration 14 sealed their whole body (`outbox.sealed`):
    /// the migration removes them, published or not (an unpublished one's offer stays live and
    /// is reclaimed in time, docs/dispatch.md), keeps every other row, and drops the column, so
    /// one form remains: the number sealed beside the body.
    @Test func offersSealedWholeGoWithTheirColumn() async throws {
        try await withFreshDatabase { configuration in
            let pool = PostgresPool(configuration: configuration, size: 1)
            try await Migrator(pool: pool, migrations: Array(Migrations.all.prefix(13)), phoneVault: TestPhones.vault).migrate()
            try await pool.execute("""
                INSERT INTO outbox (exchange, routing_key, message_id, type, body, sealed, published_at) VALUES
                    ('sampark.calls', 'call.offer.c1.gateway', 'offer-1', 'call.offer.v2', '\\x01ff', true, NULL),
                    ('sampark.calls', 'call.offer.c1.gateway', 'offer-2', 'call.offer.v2', '\\x01ff', true, now()),
                    ('sampark.calls', 'call.offer.c1', 'offer-3', 'call.offer.v2', convert_to('{}', 'UTF8'), false, NULL)
                """)
            try await Migrator(pool: pool, phoneVault: TestPhones.vault).migrate()
            #expect(try await pool.query("SELECT message_id FROM outbox").map { try $0.decode(String.self, at: 0) } == ["offer-3"])
            #expect(try await pool.query("""
                SELECT count(*)::int FROM information_schema.columns WHERE table_name = 'outbox' AND column_name = 'sealed'
                """)[0].decode(Int.self, at: 0) == 0)
            await pool.shutdown()
        }
    }

    @Test func constraintsHoldTheRules() async throws {
        try await withFreshDatabase { configuration in
            let pool = PostgresPool(configuration: configuration, size: 1)
            try await Migrator(pool: pool).migrate()
            try await pool.execute("INSERT INTO org_units (id, level, code, name, path, state_id) VALUES (1, 'booth', 'B-1', 'Booth 1', '1', 1)")
            do {
                try await pool.execute("INSERT INTO contacts (phone_hash, phone_sealed, phone_tail, name, booth_id, state_id) VALUES ('\\x00', '\\x00', '12', 'X', 1, 1)")
                Issue.record("a malformed hash, sealed number and tail were stored")
            } catch let error as PostgresError {
                #expect(error.code == .checkViolation)
            }
            // One voter per EPIC id, whatever else the rows say.
            try await pool.execute("INSERT INTO contacts (phone_hash, phone_sealed, phone_tail, name, booth_id, state_id, epic) VALUES (\(TestPhones.sql("+919800000001")), 'A', 1, 1, 'CGA1')")
            do {
                try await pool.execute("INSERT INTO contacts (phone_hash, phone_sealed, phone_tail, name, booth_id, state_id, epic) VALUES (\(TestPhones.sql("+919800000002")), 'B', 1, 1, 'CGA1')")
                Issue.record("an EPIC id was stored twice")
            } catch let error as PostgresError {
                #expect(error.code == .uniqueViolation)
            }
            try await pool.execute("INSERT INTO inbox (consumer, message_id) VALUES ('q', 'm-1')")
            do {
                try await pool.execute("INSERT INTO inbox (consumer, message_id) VALUES ('q', 'm-1')")
                Issue.record("the inbox took a message id twice")
            } catch let error as PostgresError {
                #expect(error.code == .uniqueViolation)
            }
            await pool.shutdown()
        }
    }
}
