import Foundation
import Logging
import SamparkPostgres
@_exported import SamparkPrivacy

/// Applies the migrations this build carries to a database, in order, each in its own
/// transaction, recording each in `schema_migrations` with the SHA-256 of its SQL.
///
/// Safe when several processes start at once: every run takes a transaction-level advisory
/// lock (`pg_advisory_xact_lock(MigrationLock.key)`) before it reads what is applied, so one
/// applies a migration while the others wait, then find it applied. It refuses a database
/// that has a migration this build does not know (it is newer than the build), and one whose
/// applied migration's checksum differs from the build's (someone changed an applied file).
public struct Migrator: Sendable {
    /// The advisory lock key: "SMPK" in ASCII.
    public static let lockKey: Int64 = 0x534D_504B

    public let pool: PostgresPool
    public let migrations: [Migration]
    /// The phone keys, needed only to seal numbers stored in clear before migration 11.
    public let phoneVault: PhoneVault?
    private let logger: Logger

    public init(pool: PostgresPool, migrations: [Migration] = Migrations.all, phoneVault: PhoneVault? = nil,
                logger: Logger = Logger(label: "sampark.migrate")) {
        precondition(migrations.map(\.version) == (0..<migrations.count).map { $0 + 1 },
                     "migrations must be numbered 1, 2, 3, ... without gaps")
        self.pool = pool
        self.migrations = migrations
        self.phoneVault = phoneVault
        self.logger = logger
    }

    public struct Status: Sendable, Equatable {
        public var applied: [Int]
        public var pending: [Int]
    }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case databaseIsNewer(databaseVersion: Int, buildVersion: Int)
        case checksumMismatch(version: Int, file: String)

        public var description: String {
            switch self {
            case .databaseIsNewer(let database, let build):
                return "the database is at schema version \(database), but this build of Sampark knows versions up to \(build): upgrade Sampark before running it against this database"
            case .checksumMismatch(let version, let file):
                return "migration \(version) (\(file)) was applied with different SQL than this build carries: applied migrations must never be edited; add a new one"
            }
        }
    }

    /// Applies what is pending; returns the versions it applied (empty if none).
    @discardableResult
    public func migrate() async throws -> [Int] {
        // Under the lock too: two CREATE TABLE IF NOT EXISTS at once can both try to create it.
        try await pool.transaction { connection in
            try connection.execute("SELECT pg_advisory_xact_lock($1)", [Self.lockKey])
            try connection.execute("""
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version     integer PRIMARY KEY,
                    name        text NOT NULL,
                    checksum    text NOT NULL,
                    applied_at  timestamptz NOT NULL DEFAULT now()
                )
                """)
        }
        var applied: [Int] = []
        for migration in migrations {
            let didApply = try await pool.transaction { [migrations, phoneVault, logger] connection in
                try connection.execute("SELECT pg_advisory_xact_lock($1)", [Self.lockKey])
                try Self.check(connection, against: migrations)
                let done = try connection.query("SELECT 1 FROM schema_migrations WHERE version = $1", [migration.version])
                guard done.isEmpty else { return false }
                try connection.executeScript(migration.sql)
                if migration.version == ClearPhoneSealing.version {
                    try ClearPhoneSealing.run(on: connection, vault: phoneVault, logger: logger)
                }
                try connection.execute("""
                    INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, encode(sha256(convert_to($3, 'UTF8')), 'hex'))
                    """, [migration.version, migration.name, migration.sql])
                return true
            }
            if didApply {
                applied.append(migration.version)
                logger.notice("applied migration", metadata: ["version": "\(migration.version)", "file": "\(migration.fileName)"])
            }
        }
        if applied.isEmpty { try await pool.withConnection { [migrations] in try Self.check($0, against: migrations) } }
        return applied
    }

    /// What is applied and what is pending; throws if the database is newer or was edited.
    public func status() async throws -> Status {
        try await pool.withConnection { [migrations] connection in
            let exists = try connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL")[0].decode(Bool.self, at: 0)
            guard exists else { return Status(applied: [], pending: migrations.map(\.version)) }
            try Self.check(connection, against: migrations)
            let applied = try connection.query("SELECT version FROM schema_migrations ORDER BY version").map { try $0.decode(Int.self, at: 0) }
            return Status(applied: applied, pending: migrations.map(\.version).filter { !applied.contains($0) })
        }
    }

    /// Refuses a database newer than the build, or one with an edited migration.
    private static func check(_ connection: PostgresConnection, against migrations: [Migration]) throws {
        let rows = try connection.query("""
            SELECT version, checksum, encode(sha256(convert_to(m.sql, 'UTF8')), 'hex') = checksum
            FROM schema_migrations LEFT JOIN unnest($1::int[], $2::text[]) AS m(v, sql) ON m.v = version
            ORDER BY version
            """, [migrations.map(\.version), migrations.map(\.sql)])
        let known = migrations.last?.version ?? 0
        for row in rows {
            let version = try row.decode(Int.self, at: 0)
            if version > known { throw Failure.databaseIsNewer(databaseVersion: try rows.last!.decode(Int.self, at: 0), buildVersion: known) }
            if try row.decode(Bool?.self, at: 2) != true {
                throw Failure.checksumMismatch(version: version, file: migrations[version - 1].fileName)
            }
        }
    }
}
