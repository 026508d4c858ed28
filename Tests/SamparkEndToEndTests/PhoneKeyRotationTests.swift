import Foundation
import Testing
import SamparkTestSupport

/// Phone numbers at rest under a new key (docs/security.md): `sampark rotate-phone-key`
/// re-seals every stored number under the first key of SAMPARK_PHONE_KEYS, refuses a key that
/// is not the one the numbers were sealed with, and leaves the hashes (and so every match and
/// opt-out) as they were; a worker with only the new key then works on the same data.
@Suite struct PhoneKeyRotationTests {
    static let newKey = "2:" + Data((0..<32).map { UInt8(100 + $0) }).base64EncodedString()

    @Test func rotationReSealsEveryNumberUnderTheNewKeyAndKeepsTheHashes() async throws {
        let cluster = try Cluster()
        try await cluster.prepare()
        do {
            try cluster.start("ingest-worker")
            let dir = cluster.logDirectory
            let people = "name,phones,role,unit_code\nPushpa,98765 10001;98765 10002,booth_president,MP\n"
            for (source, text, name) in [("org_units", Scenario.orgUnits, "org_units.csv"), ("contacts", Scenario.contacts, "contacts.csv"),
                                         ("people", people, "people.csv")] {
                let load = try await cluster.cli(["load", source, try Scenario.write(text, named: name, in: dir)])
                #expect(load.status == 0, "\(load.output)")
            }
            await cluster.stop("ingest-worker")
            let stored = try await cluster.query("SELECT count(*)::int FROM contacts", as: Int.self)
            #expect(stored == Scenario.goodContactRows)
            let hashesBefore = try await cluster.query("SELECT string_agg(encode(phone_hash, 'hex'), ',' ORDER BY id) FROM contacts", as: String.self)
            // A gateway's offer not yet published: its number sealed beside the body.
            #expect(try await cluster.query("""
                INSERT INTO outbox (exchange, routing_key, message_id, type, app_id, body, phone_sealed)
                SELECT 'sampark.calls', 'call.offer.c1.gateway', 'offer-1', 'call.offer.v2', 'dialer-dispatcher',
                       convert_to('{"contact" : {"phone" : ""}}', 'UTF8'), s
                FROM (SELECT \(TestPhones.sql("+919876500001"))) AS x(h, s, t) RETURNING 1
                """, as: Int.self) == 1)

            // Another key under the id the numbers were sealed with: refused, nothing changed.
            let otherOne = "2:" + Data((0..<32).map { UInt8(200 - $0) }).base64EncodedString() + ",1:" + Data(repeating: 7, count: 32).base64EncodedString()
            let refused = try await cluster.run(Cluster.binDirectory.appendingPathComponent("sampark"), ["rotate-phone-key"],
                                                extraEnvironment: ["SAMPARK_PHONE_KEYS": otherOne])
            #expect(refused.status != 0)
            #expect(refused.output.contains("key 1 is not the key 1 the stored numbers were sealed with"), "\(refused.output)")
            #expect(try await cluster.query("SELECT count(*)::int FROM contacts WHERE get_byte(phone_sealed, 0) <> 1", as: Int.self) == 0)

            // The new key first, the old one after it.
            let rotated = try await cluster.run(Cluster.binDirectory.appendingPathComponent("sampark"), ["rotate-phone-key", "--batch", "100"],
                                                extraEnvironment: ["SAMPARK_PHONE_KEYS": Self.newKey + "," + TestPhones.keys])
            #expect(rotated.status == 0, "\(rotated.output)")
            // The contacts, Pushpa's main number, her second one (counted per person), and the
            // gateway's offer waiting in the outbox.
            #expect(rotated.output.contains("re-sealed \(stored + 3) values under key 2; none is sealed under another key"), "\(rotated.output)")
            #expect(rotated.output.contains("rotate-phone-key: contacts: \(stored) re-sealed"), "progress is shown: \(rotated.output)")
            for sql in ["SELECT count(*)::int FROM contacts WHERE get_byte(phone_sealed, 0) <> 2",
                        "SELECT count(*)::int FROM people WHERE get_byte(phone_sealed, 0) <> 2",
                        "SELECT count(*)::int FROM people, unnest(other_phones_sealed) s WHERE get_byte(s, 0) <> 2",
                        "SELECT count(*)::int FROM outbox WHERE get_byte(phone_sealed, 0) <> 2"] {
                #expect(try await cluster.query(sql, as: Int.self) == 0, "\(sql)")
            }
            #expect(try await cluster.query("SELECT string_agg(encode(phone_hash, 'hex'), ',' ORDER BY id) FROM contacts", as: String.self)
                    == hashesBefore, "the hashes, and so every match, stay")
            // Only the new key opens them, each to the number its hash names.
            let newVault = try PhoneVault(keys: Self.newKey, hashKey: TestPhones.hashKey)
            let pairs = try await cluster.query("""
                SELECT string_agg(encode(phone_sealed, 'hex') || ':' || encode(phone_hash, 'hex'), ',' ORDER BY id) FROM contacts
                """, as: String.self)
            for pair in pairs.split(separator: ",") {
                let parts = pair.split(separator: ":").map { [UInt8](PhoneVault.bytes(hex: "\\x" + $0)) }
                let number = try newVault.open(parts[0])
                #expect(newVault.hash(number) == parts[1])
                #expect(throws: PhoneVault.Failure.self) { try TestPhones.vault.open(parts[0]) }
            }

            // The fleet without the old key: an ingest-worker reloads the roll, all unchanged.
            try cluster.start("ingest-worker", extraEnvironment: ["SAMPARK_PHONE_KEYS": Self.newKey])
            let reload = try await cluster.cli(["load", "contacts", try Scenario.write(Scenario.contacts, named: "again.csv", in: dir)])
            #expect(reload.status == 0, "\(reload.output)")
            #expect(try await cluster.query("SELECT count(*)::int FROM contacts", as: Int.self) == stored, "merged, not added")
            let again = try await cluster.run(Cluster.binDirectory.appendingPathComponent("sampark"), ["rotate-phone-key"],
                                              extraEnvironment: ["SAMPARK_PHONE_KEYS": Self.newKey])
            #expect(again.output.contains("re-sealed 0 values under key 2"), "\(again.output)")
        } catch {
            Issue.record(error)
        }
        _ = await cluster.tearDown()
    }
}
