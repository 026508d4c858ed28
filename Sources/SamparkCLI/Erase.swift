import ArgumentParser
import Foundation
import SamparkCore
import SamparkPostgres
import SamparkRuntime

/// `sampark erase --phone NUMBER --requested-by WHO --reason WHY`: a citizen's erasure request
/// (DPDP Act 2023, s. 12). In one transaction every table loses the number and what the person
/// said and is (contacts, people, list entries, notes, answers, corrections, turnout marks,
/// opt-out in clear, published messages, stored dossiers naming them); the aggregates keep
/// their counts; the number's keyed hash stays, so no list ever includes it again; the
/// processing log records who asked and why, never the number. docs/security.md.
struct Erase: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Erase everything Sampark holds of one phone number, keeping it off every list.")

    @Option(help: "The number (+91 and ten digits, or ten digits); '-' reads it from standard input, out of the shell's history.")
    var phone: String

    @Option(help: "Who asked (a desk, an officer, a ticket): for the processing log.")
    var requestedBy: String

    @Option(help: "Why (the citizen's request and how it came): for the processing log.")
    var reason: String

    @OptionGroup var database: DatabaseOptions

    @Flag(help: "Send the request to the ingest-worker (erasure.request.v1) instead: for the central team, without the database's owner or the key.")
    var publish = false

    @OptionGroup var servers: ServerOptions

    func run() async throws {
        let given = phone == "-" ? (readLine(strippingNewline: true) ?? "") : phone
        // The message never repeats what was typed: it may be a number.
        guard let number = PhoneNumber.parse(given)?.number else {
            throw ValidationError("--phone is not an Indian phone number (+91 and ten digits)")
        }
        let requestedBy = requestedBy, reason = reason
        if publish {
            let messageID = UUID().uuidString.lowercased()
            try await servers.withConnection(name: "erase") { amqp in
                try await amqp.publish(outgoing(ErasureRequest(phone: number, requestedBy: requestedBy, reason: reason),
                                                exchange: Topology.ingestExchange, routingKey: "erasure.request", messageID: messageID,
                                                purpose: reason))
            }
            say("asked the ingest-worker to erase the number (message \(messageID)); the processing log records it when done")
            return
        }
        // The database checks the key, who asked and why (sampark_erase), as for the
        // ingest-worker's requests; its refusals (22023) say what is wrong, never the number.
        let key = ProcessInfo.processInfo.environment["SAMPARK_PHONE_HASH_KEY"] ?? ""
        let counts: String
        do {
            counts = try await database.withPool(applicationName: "sampark erase") { pool in
                try await pool.query("SELECT sampark_erase($1, $2, $3, $4)::text", [number, key, requestedBy, reason])[0]
                    .decode(String.self, at: 0)
            }
        } catch let error as PostgresError where error.code == "22023" {
            throw ValidationError(error.message)
        }
        let touched = (try? JSONSerialization.jsonObject(with: Data(counts.utf8)) as? [String: Int]) ?? [:]
        let parts = touched.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        say("erased: " + (parts.isEmpty ? "nothing was held of this number" : parts.joined(separator: ", "))
            + "; the number stays off every list by its keyed hash")
    }
}
