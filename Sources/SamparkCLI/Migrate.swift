import ArgumentParser
import Foundation
import SamparkPostgres
import SamparkSchema

/// `sampark migrate`: applies the schema migrations this build carries (safe to run from
/// several processes at once), or with `--status` lists what is applied and pending.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply the database migrations.")

    @OptionGroup var database: DatabaseOptions

    @Flag(help: "Only show what is applied and what is pending.")
    var status = false

    func run() async throws {
        try await database.withPool(applicationName: "sampark migrate") { pool in try await migrate(pool) }
    }

    func migrate(_ pool: PostgresPool) async throws {
        // The phone keys, if given: needed only to seal numbers a database from before
        // migration 11 holds in clear (the migration says so if it needs them).
        let vault: PhoneVault?
        do {
            vault = ProcessInfo.processInfo.environment[PhoneVault.keysVariable].map { !$0.isEmpty } == true
                ? try PhoneVault.fromEnvironment() : nil
        } catch { throw ValidationError("\(error)") }
        let migrator = Migrator(pool: pool, phoneVault: vault)
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
        } catch let failure as PhoneVault.Failure {
            throw ValidationError(failure.description)
        }
    }
}

extension String {
    func ifEmpty(_ fallback: String) -> String { isEmpty ? fallback : self }
}
