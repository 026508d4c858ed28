import Foundation
import Logging
import SamparkPostgres
import SamparkPrivacy

/// The step between migrations 11 and 12: the numbers a database stored in clear before
/// Sampark sealed them get their hash, sealed value and last digits, in batches, inside
/// migration 11's transaction (so a failure leaves the clear columns as they were). The keys
/// are needed only when there is something to seal; without them the migration stops and
/// says which table holds numbers in clear.
enum ClearPhoneSealing {
    static let version = 11
    static let batch = 10_000

    static func run(on connection: PostgresConnection, vault: PhoneVault?, logger: Logger) throws {
        let tables = ["contacts", "people", "list_entries", "opt_outs"]
        var holding: [String] = []
        for table in tables {
            let any = try connection.query("SELECT EXISTS (SELECT 1 FROM \(table) WHERE phone IS NOT NULL)")[0].decode(Bool.self, at: 0)
            if any { holding.append(table) }
        }
        guard !holding.isEmpty else { return }
        guard let vault else {
            throw PhoneVault.Failure("""
                \(holding.joined(separator: ", ")) hold phone numbers in clear: run `sampark migrate` with \
                \(PhoneVault.keysVariable) and \(PhoneVault.hashKeyVariable) set, and it seals them (docs/security.md)
                """)
        }
        try vault.claim(on: connection)
        for table in holding where table != "opt_outs" {
            var last: Int64 = 0, sealed = 0
            while true {
                let rows = try connection.query("""
                    SELECT id, phone FROM \(table) WHERE id > $1 AND phone IS NOT NULL ORDER BY id LIMIT \(batch)
                    """, [last])
                guard let final = rows.last else { break }
                last = try final.decode(Int64.self, at: 0)
                let ids = try rows.map { try $0.decode(Int64.self, at: 0) }
                let numbers = try rows.map { try $0.decode(String.self, at: 1) }
                try connection.execute("""
                    UPDATE \(table) t SET phone_hash = u.h, phone_sealed = u.s, phone_tail = u.t
                    FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::text[]) AS u(id, h, s, t) WHERE t.id = u.id
                    """, [ids, numbers.map { Data(vault.hash($0)) }, numbers.map { Data(vault.seal($0)) }, numbers.map(PhoneVault.tail)])
                sealed += rows.count
            }
            logger.notice("sealed the phone numbers stored in clear", metadata: ["table": "\(table)", "rows": "\(sealed)"])
        }
        // A person's other numbers: one row per number, put back in order.
        let others = try connection.query("""
            SELECT p.id, o.n, o.phone FROM people p, unnest(p.other_phones) WITH ORDINALITY AS o(phone, n) ORDER BY p.id, o.n
            """)
        if !others.isEmpty {
            let ids = try others.map { try $0.decode(Int64.self, at: 0) }, order = try others.map { try $0.decode(Int64.self, at: 1) }
            let numbers = try others.map { try $0.decode(String.self, at: 2) }
            try connection.execute("""
                UPDATE people p SET other_phones_sealed = x.s, other_phone_hashes = x.h
                FROM (SELECT id, array_agg(s ORDER BY n) AS s, array_agg(h ORDER BY n) AS h
                      FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bytea[]) AS u(id, n, s, h) GROUP BY id) x
                WHERE p.id = x.id
                """, [ids, order, numbers.map { Data(vault.seal($0)) }, numbers.map { Data(vault.hash($0)) }])
        }
        // Opt-outs keep only the hash. Two numbers cannot share one, so the key stays unique.
        if holding.contains("opt_outs") {
            let numbers = try connection.query("SELECT phone FROM opt_outs").map { try $0.decode(String.self, at: 0) }
            try connection.execute("""
                UPDATE opt_outs o SET phone_hash = u.h FROM unnest($1::text[], $2::bytea[]) AS u(phone, h) WHERE o.phone = u.phone
                """, [numbers, numbers.map { Data(vault.hash($0)) }])
        }
    }
}
