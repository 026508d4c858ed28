/// The migrations this build carries, in order. The SQL lives in `Sources/SamparkSchema/sql`
/// (also reachable as `schemas/sql`) and is compiled into the binary (`.embedInCode`), so a
/// worker or the CLI in a container needs no source tree. SwiftPM names each embedded file
/// after its path with the leading digit replaced (`0001_initial.sql` → `_001_initial_sql`).
///
/// To add a migration: add `NNNN_what.sql` to the folder and a line here; a test fails if the
/// two disagree. Never edit an applied migration: the migrator refuses a changed checksum.
public enum Migrations {
    public static let all: [Migration] = [
        Migration(version: 1, name: "initial", sql: PackageResources._001_initial_sql),
        Migration(version: 2, name: "ingest", sql: PackageResources._002_ingest_sql),
        Migration(version: 3, name: "lists", sql: PackageResources._003_lists_sql),
        Migration(version: 4, name: "dispatch", sql: PackageResources._004_dispatch_sql),
        Migration(version: 5, name: "feedback", sql: PackageResources._005_feedback_sql),
        Migration(version: 6, name: "reports", sql: PackageResources._006_reports_sql),
        Migration(version: 7, name: "ledger_write_path", sql: PackageResources._007_ledger_write_path_sql),
        Migration(version: 8, name: "one_centre_aggregate", sql: PackageResources._008_one_centre_aggregate_sql),
        Migration(version: 9, name: "roles", sql: PackageResources._009_roles_sql),
        Migration(version: 10, name: "erasure", sql: PackageResources._010_erasure_sql),
        Migration(version: 11, name: "sealed_phones", sql: PackageResources._011_sealed_phones_sql),
        Migration(version: 12, name: "drop_clear_phones", sql: PackageResources._012_drop_clear_phones_sql),
        Migration(version: 13, name: "aggregates_fillfactor", sql: PackageResources._013_aggregates_fillfactor_sql),
        Migration(version: 14, name: "outbox_phone", sql: PackageResources._014_outbox_phone_sql),
    ]
}

/// One ordered schema change.
public struct Migration: Sendable, Hashable {
    public let version: Int
    public let name: String
    public let sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    init(version: Int, name: String, sql bytes: [UInt8]) {
        self.init(version: version, name: name, sql: String(decoding: bytes, as: UTF8.self))
    }

    /// The file it comes from.
    public var fileName: String { "\(String(format: "%04d", version))_\(name).sql" }
}
