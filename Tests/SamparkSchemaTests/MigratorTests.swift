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

    @Test func constraintsHoldTheRules() async throws {
        try await withFreshDatabase { configuration in
            let pool = PostgresPool(configuration: configuration, size: 1)
            try await Migrator(pool: pool).migrate()
            try await pool.execute("INSERT INTO org_units (id, level, code, name, path, state_id) VALUES (1, 'booth', 'B-1', 'Booth 1', '1', 1)")
            do {
                try await pool.execute("INSERT INTO contacts (phone, name, booth_id, state_id) VALUES ('12345', 'X', 1, 1)")
                Issue.record("an invalid phone was stored")
            } catch let error as PostgresError {
                #expect(error.code == .checkViolation)
            }
            // One voter per EPIC id, whatever else the rows say.
            try await pool.execute("INSERT INTO contacts (phone, name, booth_id, state_id, epic) VALUES ('+919800000001', 'A', 1, 1, 'CGA1')")
            do {
                try await pool.execute("INSERT INTO contacts (phone, name, booth_id, state_id, epic) VALUES ('+919800000002', 'B', 1, 1, 'CGA1')")
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
