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

    @Option(help: "PostgreSQL URL of the owner (default: $SAMPARK_POSTGRES_URL, else the local demo database).")
    var postgresURL: String?

    @Flag(help: "Send the request to the ingest-worker (erasure.request.v1) instead: for the central team, without the database's owner or the key.")
    var publish = false

    @OptionGroup var servers: ServerOptions

    /// `+91` and ten digits, from what a person types (spaces, dashes, a leading 0 or 91).
    static func normalized(_ text: String) -> String? {
        var digits = text.filter(\.isNumber)
        if digits.count == 12, digits.hasPrefix("91") { digits.removeFirst(2) }
        if digits.count == 11, digits.hasPrefix("0") { digits.removeFirst() }
        guard digits.count == 10, digits.first != "0" else { return nil }
        return "+91" + digits
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        if publish {
            let given = phone == "-" ? (readLine(strippingNewline: true) ?? "") : phone
            guard let number = Self.normalized(given) else { throw ValidationError("--phone is not an Indian phone number (+91 and ten digits)") }
            let amqp = try await servers.connect(name: "erase")
            let messageID = UUID().uuidString.lowercased()
            do {
                try await amqp.publish(outgoing(ErasureRequest(phone: number, requestedBy: requestedBy, reason: reason),
                                                exchange: Topology.ingestExchange, routingKey: "erasure.request", messageID: messageID,
                                                purpose: reason))
            } catch {
                await amqp.close()
                throw error
            }
            await amqp.close()
            say("asked the ingest-worker to erase the number (message \(messageID)); the processing log records it when done")
            return
        }
        guard let key = environment["SAMPARK_PHONE_HASH_KEY"], key.count >= 32 else {
            throw ValidationError("SAMPARK_PHONE_HASH_KEY is not set (or shorter than 32 characters): the keyed hash that keeps an erased number off every list needs the fleet's key")
        }
        let given = phone == "-" ? (readLine(strippingNewline: true) ?? "") : phone
        // The message never repeats what was typed: it may be a number.
        guard let number = Self.normalized(given) else { throw ValidationError("--phone is not an Indian phone number (+91 and ten digits)") }
        guard !requestedBy.trimmingCharacters(in: .whitespaces).isEmpty, !reason.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ValidationError("--requested-by and --reason must say something: the processing log keeps them")
        }
        let url = postgresURL ?? environment["SAMPARK_POSTGRES_URL"] ?? "postgres://sampark:sampark@127.0.0.1:55432/sampark"
        var configuration = try PostgresConfiguration(url: url)
        configuration.applicationName = "sampark erase"
        let counts: String
        do {
            counts = try await withPool(configuration) { pool in
                try await erase(number, key: key, requestedBy: requestedBy, reason: reason, pool: pool)
            }
        } catch let error as PostgresError where error.code == "22023" {
            throw ValidationError(error.message)
        }
        let touched = (try? JSONSerialization.jsonObject(with: Data(counts.utf8)) as? [String: Int]) ?? [:]
        let parts = touched.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        say("erased: " + (parts.isEmpty ? "nothing was held of this number" : parts.joined(separator: ", "))
            + "; the number stays off every list by its keyed hash")
    }

    /// The erasure and its processing-log row, in one transaction; returns the counts by table.
    func erase(_ number: String, key: String, requestedBy: String, reason: String, pool: PostgresPool) async throws -> String {
        try await pool.transaction { connection in
            let counts = try connection.query("SELECT sampark_erase($1, $2)::text", [number, key])[0].decode(String.self, at: 0)
            // The subject is the hash's first 16 hex digits: enough to find this entry again
            // for the same number (with the key), nothing to read a number from.
            try connection.execute("""
                INSERT INTO processing_log (action, requested_by, purpose, subject, detail)
                VALUES ('erase', $1, $2, 'phone ' || left(encode(hmac($3, $4, 'sha256'), 'hex'), 16), $5::jsonb)
                """, [requestedBy, reason, number, key, PostgresJSONText(counts)])
            return counts
        }
    }
}
