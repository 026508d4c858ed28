import ArgumentParser
import Foundation
import SamparkPostgres
import SamparkSchema

/// `sampark migrate`: applies the schema migrations this build carries (safe to run from
/// several processes at once), or with `--status` lists what is applied and pending.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply the database migrations.")

    @Option(help: "PostgreSQL URL (default: $SAMPARK_POSTGRES_URL, else the local demo database).")
    var postgresURL: String?

    @Flag(help: "Only show what is applied and what is pending.")
    var status = false

    func run() async throws {
        let url = postgresURL ?? ProcessInfo.processInfo.environment["SAMPARK_POSTGRES_URL"]
            ?? "postgres://sampark:sampark@127.0.0.1:55432/sampark"
        var configuration = try PostgresConfiguration(url: url)
        configuration.applicationName = "sampark migrate"
        try await withPool(configuration) { pool in try await migrate(pool) }
    }

    func migrate(_ pool: PostgresPool) async throws {
        let migrator = Migrator(pool: pool)
        do {
            if status {
                let status = try await migrator.status()
                say("applied: \(status.applied.map(String.init).joined(separator: ", ").ifEmpty("none")); pending: \(status.pending.map(String.init).joined(separator: ", ").ifEmpty("none"))")
            } else {
                let applied = try await migrator.migrate()
                say(applied.isEmpty ? "schema up to date (version \(Migrations.all.count))"
                                    : "applied " + applied.map { Migrations.all[$0 - 1].fileName }.joined(separator: ", "))
            }
        } catch let failure as Migrator.Failure {
            throw ValidationError(failure.description)
        }
    }
}

/// Runs `body` with a pool and shuts the pool down before returning, so the process never
/// exits while the pool's threads still run (a detached shutdown raced the exit's destructors
/// and crashed the CLI now and then).
func withPool<T>(_ configuration: PostgresConfiguration, size: Int = 1, _ body: (PostgresPool) async throws -> T) async throws -> T {
    let pool = PostgresPool(configuration: configuration, size: size)
    do {
        let value = try await body(pool)
        await pool.shutdown()
        return value
    } catch {
        await pool.shutdown()
        throw error
    }
}

extension String {
    func ifEmpty(_ fallback: String) -> String { isEmpty ? fallback : self }
}
