import Foundation
import SamparkCore
import SamparkPostgres

/// `org_units`: level, code, name, parent_code. A parent must be loaded before its children
/// (earlier in the file, or in an earlier load). The tree's path is built from ids, so codes
/// may hold any characters.
struct OrgUnitLoader: SourceLoader {
    let requiredColumns = ["level", "code", "name"]

    func load(_ fields: Fields, on connection: PostgresConnection) throws {
        let level = try fields.required("level")
        let code = try fields.required("code")
        let name = try fields.required("name")
        var parentID: Int64?
        var parentPath: String?
        if let parentCode = fields.optional("parent_code") {
            guard let parent = try connection.query("SELECT id, path::text FROM org_units WHERE code = $1", [parentCode], prepared: true).first else {
                throw RowRejection("parent_code", "no unit has this code (a parent must come before its children)")
            }
            parentID = try parent.decode(Int64.self, at: 0)
            parentPath = try parent.decode(String.self, at: 1)
        }
        let stored = try connection.query("""
            WITH next AS (SELECT nextval(pg_get_serial_sequence('org_units', 'id')) AS id)
            INSERT INTO org_units (id, level, code, name, parent_id, path)
            SELECT next.id, $1, $2, $3, $4, (CASE WHEN $5::text IS NULL THEN '' ELSE $5::text || '.' END || next.id)::ltree
            FROM next
            ON CONFLICT (code) DO UPDATE SET level = EXCLUDED.level, name = EXCLUDED.name
                WHERE org_units.parent_id IS NOT DISTINCT FROM EXCLUDED.parent_id
            RETURNING id
            """, [level, code, name, parentID, parentPath], prepared: true)
        if stored.isEmpty {
            throw RowRejection("parent_code", "the unit exists under another parent; moving units is not supported")
        }
    }
}

/// `contacts`: phone, name, booth_code, and optionally language, epic. Household members may
/// share a phone; the same name at the same phone in the same booth is one contact.
struct ContactLoader: SourceLoader {
    let requiredColumns = ["phone", "name", "booth_code"]

    func load(_ fields: Fields, on connection: PostgresConnection) throws {
        guard let phone = PhoneNumber.normalize(try fields.required("phone")) else {
            throw RowRejection("phone", "is not an Indian mobile number (+91 and 10 digits starting 6-9)")
        }
        let name = try fields.required("name")
        guard let booth = try unitID(code: try fields.required("booth_code"), on: connection) else {
            throw RowRejection("booth_code", "no unit has this code")
        }
        try connection.execute("""
            INSERT INTO contacts (phone, name, booth_id, language, epic)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (phone, name, booth_id) DO NOTHING
            """, [phone, name, booth, fields.optional("language"), fields.optional("epic")], prepared: true)
    }
}

/// `call_centres`: code, name, region_code, seats, and optionally calls_from, calls_to (IST,
/// HH:MM; 09:00 and 21:00 by default).
struct CallCentreLoader: SourceLoader {
    let requiredColumns = ["code", "name", "region_code", "seats"]

    func load(_ fields: Fields, on connection: PostgresConnection) throws {
        let code = try fields.required("code")
        // The same rule as the table's CHECK: a row breaking it must be rejected here, or it
        // would abort the whole batch's transaction.
        guard code.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            throw RowRejection("code", "may hold only letters, digits, '-' and '_' (it names the centre's queue)")
        }
        let name = try fields.required("name")
        guard let region = try unitID(code: try fields.required("region_code"), on: connection) else {
            throw RowRejection("region_code", "no unit has this code")
        }
        guard let seats = Int(try fields.required("seats")), seats > 0, seats <= 10_000 else {
            throw RowRejection("seats", "is not a whole number from 1 to 10000")
        }
        func time(_ column: String, _ fallback: String) throws -> String {
            let text = fields.optional(column) ?? fallback
            let parts = text.split(separator: ":")
            guard parts.count == 2, let h = Int(parts[0]), let m = Int(parts[1]), (0..<24).contains(h), (0..<60).contains(m) else {
                throw RowRejection(column, "is not a time of day as HH:MM")
            }
            return String(format: "%02d:%02d", h, m)
        }
        let from = try time("calls_from", "09:00"), to = try time("calls_to", "21:00")
        guard from < to else { throw RowRejection("calls_to", "is not after calls_from") }
        try connection.execute("""
            INSERT INTO call_centres (code, name, region_id, seats, calls_from, calls_to)
            VALUES ($1, $2, $3, $4, $5::time, $6::time)
            ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, region_id = EXCLUDED.region_id, seats = EXCLUDED.seats,
                calls_from = EXCLUDED.calls_from, calls_to = EXCLUDED.calls_to
            """, [code, name, region, seats, from, to], prepared: true)
    }
}

/// `opt_outs`: phone, and optionally source. From the moment it is stored, no campaign calls
/// the number.
struct OptOutLoader: SourceLoader {
    let requiredColumns = ["phone"]

    func load(_ fields: Fields, on connection: PostgresConnection) throws {
        guard let phone = PhoneNumber.normalize(try fields.required("phone")) else {
            throw RowRejection("phone", "is not an Indian mobile number (+91 and 10 digits starting 6-9)")
        }
        try connection.execute("""
            INSERT INTO opt_outs (phone, source) VALUES ($1, $2) ON CONFLICT (phone) DO NOTHING
            """, [phone, fields.optional("source") ?? "file"], prepared: true)
    }
}
