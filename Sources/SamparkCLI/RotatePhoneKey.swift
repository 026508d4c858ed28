import ArgumentParser
import Foundation
import SamparkPostgres
import SamparkPrivacy

/// `sampark rotate-phone-key`: re-seals every stored number (in the outbox too)
/// under the first key of `SAMPARK_PHONE_KEYS`, in batches, each its own short transaction,
/// while the fleet runs. The steps (docs/security.md):
///
/// 1. put the new key first in `SAMPARK_PHONE_KEYS` and keep the old ones after it, and
///    restart the ingest-worker and the dispatcher (they seal with the first, open with any);
/// 2. run this; it prints progress and, at the end, how many values each key still seals;
/// 3. when none are left under an old key, remove it from `SAMPARK_PHONE_KEYS`.
///
/// A row changed meanwhile (a reload sealed it anew) is left as it is: the update matches the
/// value it read. Run it again until it reports nothing left.
struct RotatePhoneKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-seal every stored phone number under the first key of SAMPARK_PHONE_KEYS, in batches, while the fleet runs.")

    @Option(help: "Values per transaction.")
    var batch: Int = 5_000

    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        guard (100...100_000).contains(batch) else { throw ValidationError("--batch must be between 100 and 100000") }
    }

    /// The sealed columns: table, the column, and which rows hold one.
    static let columns: [(table: String, column: String, holds: String)] = [
        ("contacts", "phone_sealed", "true"),
        ("people", "phone_sealed", "true"),
        ("list_entries", "phone_sealed", "phone_sealed IS NOT NULL"),
        ("outbox", "phone_sealed", "phone_sealed IS NOT NULL"),
    ]

    func run() async throws {
        let vault: PhoneVault
        do { vault = try PhoneVault.fromEnvironment() } catch { throw ValidationError("\(error)") }
        try await database.withPool(applicationName: "sampark rotate-phone-key") { pool in
            do {
                try await pool.withConnection { try vault.claim(on: $0) }
            } catch let failure as PhoneVault.Failure {
                throw ValidationError(failure.description)
            }
            var total = 0
            for target in Self.columns {
                total += try await reseal(target, vault: vault, pool: pool)
            }
            total += try await resealOtherPhones(vault: vault, pool: pool)
            let left = try await remaining(vault: vault, pool: pool)
            say("re-sealed \(total) values under key \(vault.currentKeyID); "
                + (left.isEmpty ? "none is sealed under another key: the old keys can go from \(PhoneVault.keysVariable)"
                                : "still under other keys: " + left.map { "key \($0.key): \($0.value)" }.joined(separator: ", ")
                                  + " (changed while this ran: run it again)"))
        }
    }

    private func reseal(_ target: (table: String, column: String, holds: String), vault: PhoneVault, pool: PostgresPool) async throws -> Int {
        let batch = batch, current = Int(vault.currentKeyID)
        var last: Int64 = 0, done = 0
        while true {
            let after = last
            let step: (last: Int64?, changed: Int) = try await pool.transaction { connection in
                let rows = try connection.query("""
                    SELECT id, \(target.column) FROM \(target.table)
                    WHERE id > $1 AND \(target.holds) AND get_byte(\(target.column), 0) <> $2 ORDER BY id LIMIT $3
                    """, [after, current, batch])
                guard let final = rows.last else { return (nil, 0) }
                var ids: [Int64] = [], old: [Data] = [], new: [Data] = []
                for row in rows {
                    let sealed = [UInt8](try row.decode(Data.self, at: 1))
                    guard let resealed = try vault.resealed(sealed) else { continue }
                    ids.append(try row.decode(Int64.self, at: 0)); old.append(Data(sealed)); new.append(Data(resealed))
                }
                let changed = try connection.execute("""
                    UPDATE \(target.table) t SET \(target.column) = u.new FROM unnest($1::bigint[], $2::bytea[], $3::bytea[]) AS u(id, old, new)
                    WHERE t.id = u.id AND t.\(target.column) = u.old
                    """, [ids, old, new])
                return (try final.decode(Int64.self, at: 0), changed)
            }
            guard let next = step.last else { break }
            last = next
            done += step.changed
            FileHandle.standardError.write(Data("rotate-phone-key: \(target.table): \(done) re-sealed (up to id \(next))\n".utf8))
        }
        return done
    }

    /// People's second numbers: an array per person, re-sealed element by element.
    private func resealOtherPhones(vault: PhoneVault, pool: PostgresPool) async throws -> Int {
        let batch = batch, current = Int(vault.currentKeyID)
        var last: Int64 = 0, done = 0
        while true {
            let after = last
            let step: (last: Int64?, changed: Int) = try await pool.transaction { connection in
                let rows = try connection.query("""
                    SELECT p.id, p.other_phones_sealed::text FROM people p
                    WHERE p.id > $1 AND EXISTS (SELECT 1 FROM unnest(p.other_phones_sealed) s WHERE get_byte(s, 0) <> $2)
                    ORDER BY p.id LIMIT $3
                    """, [after, current, batch])
                guard let final = rows.last else { return (nil, 0) }
                var changed = 0
                for row in rows {
                    // One statement per person: few people have second numbers.
                    let id = try row.decode(Int64.self, at: 0)
                    let stored = try connection.query("SELECT s FROM people p, unnest(p.other_phones_sealed) WITH ORDINALITY AS x(s, n) WHERE p.id = $1 ORDER BY n", [id])
                        .map { [UInt8](try $0.decode(Data.self, at: 0)) }
                    let resealed = try stored.map { try vault.resealed($0) ?? $0 }
                    changed += try connection.execute("""
                        UPDATE people SET other_phones_sealed = $2::bytea[] WHERE id = $1 AND other_phones_sealed::text = $3
                        """, [id, resealed.map { Data($0) }, try row.decode(String.self, at: 1)])
                }
                return (try final.decode(Int64.self, at: 0), changed)
            }
            guard let next = step.last else { break }
            last = next
            done += step.changed
        }
        return done
    }

    /// How many values each key other than the current one still seals.
    private func remaining(vault: PhoneVault, pool: PostgresPool) async throws -> [(key: Int, value: Int)] {
        let current = Int(vault.currentKeyID)
        let parts = Self.columns.map { "SELECT get_byte(\($0.column), 0) AS k FROM \($0.table) WHERE \($0.holds)" }
            + ["SELECT get_byte(s, 0) FROM people, unnest(other_phones_sealed) s"]
        return try await pool.query("""
            SELECT k, count(*)::int FROM (\(parts.joined(separator: " UNION ALL "))) x WHERE k <> $1 GROUP BY k ORDER BY k
            """, [current]).map { (try $0.decode(Int.self, at: 0), try $0.decode(Int.self, at: 1)) }
    }
}
