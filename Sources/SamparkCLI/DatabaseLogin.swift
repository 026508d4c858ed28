import ArgumentParser
import Foundation
import SamparkPostgres
import SamparkSchema

/// `sampark db-login NAME --role ROLE [--state CODE]`: a PostgreSQL login for one worker (or a
/// state's analysts) that holds only that role's grants (migration 0009, docs/security.md).
/// Run it as the owner that migrates; the password is read from standard input (one line) or
/// from `$SAMPARK_DB_LOGIN_PASSWORD`, never from the command line, where `ps` would show it.
struct DatabaseLogin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db-login",
        abstract: "Create (or re-key) a PostgreSQL login with one worker's least privileges, or a state analyst's.")

    @Argument(help: "The login's name, for example ingest_worker or analyst_mp.")
    var name: String

    @Option(help: "One of: \(DatabaseRoles.byRole.keys.sorted().joined(separator: ", ")).")
    var role: String

    @Option(help: "The state whose rows an analyst may read (its org unit code); analysts only.")
    var state: String?

    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        guard let group = DatabaseRoles.byRole[role] else {
            throw ValidationError("--role \(role) is not a role: use one of \(DatabaseRoles.byRole.keys.sorted().joined(separator: ", "))")
        }
        if (group == DatabaseRoles.analyst) != (state != nil) {
            throw ValidationError(state == nil ? "--role analyst needs --state" : "--state is for --role analyst only")
        }
        guard name.range(of: "^[a-z_][a-z0-9_]{0,62}$", options: .regularExpression) != nil else {
            throw ValidationError("\(name) is not a login name: lowercase letters, digits and '_', at most 63")
        }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let password: String
        if let given = environment["SAMPARK_DB_LOGIN_PASSWORD"], !given.isEmpty {
            password = given
        } else {
            password = readLine(strippingNewline: true) ?? ""
        }
        let group = DatabaseRoles.byRole[role]!
        let name = name, state = state
        do {
            let rows = try await database.withPool(applicationName: "sampark db-login") { pool in
                try await pool.query("SELECT sampark_db_login($1, $2, $3, $4)", [name, group, password, state])
            }
            say(try rows[0].decode(String.self, at: 0))
        } catch let error as PostgresError {
            // Our own refusals (22023) name the role or the state, never the password; anything
            // else prints as the library prints errors, without the raw fields.
            throw ValidationError(error.code == "22023" ? error.message : error.description)
        }
    }
}
