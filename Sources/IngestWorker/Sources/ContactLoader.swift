import Foundation
import SamparkCore
import SamparkPostgres
import SamparkPrivacy

/// `contacts`, voters and scheme beneficiaries: name, phone, booth_code, and optionally
/// gender, age, language, epic, ac_number, part_number, serial_number, house_number, schemes.
///
/// A voter is one row, found by its EPIC id, else by its roll position (state, AC, part,
/// serial), else (a beneficiary with neither) by phone, name and booth. A row for a voter
/// already stored merges into it; household members sharing a phone stay distinct rows.
/// The number is stored as its hash, sealed and its last digits (``PhoneVault``), never in clear.
struct ContactLoader: SourceLoader {
    let source = IngestSource.contacts
    let vault: PhoneVault
    var stagedColumns: [(name: String, type: String)] { Self.columns }
    private static let columns: [(name: String, type: String)] = [
        ("name", "text"), ("phone_hash", "bytea"), ("phone_sealed", "bytea"), ("phone_tail", "text"), ("phone_kind", "text"),
        ("booth_code", "text"), ("gender", "text"),
        ("age", "smallint"), ("language", "text"), ("epic", "text"), ("ac_number", "integer"), ("part_number", "integer"),
        ("serial_number", "integer"), ("house_number", "text"), ("schemes", "text[]"),
    ]
    let workColumns: [(name: String, type: String)] = [("booth_id", "bigint"), ("state_id", "bigint"), ("target", "bigint")]
    let stageIndexes = ["target"]

    /// The columns a merge writes.
    static let stored = ["name", "phone_hash", "phone_sealed", "phone_tail", "phone_kind", "booth_id", "gender", "age", "language",
                         "epic", "ac_number", "part_number", "serial_number", "house_number", "schemes"]
    /// The columns a reload compares: a row equal in all of them changes nothing. Not the
    /// sealed number: each sealing differs (a fresh nonce), and the hash tells the number.
    static let compared = stored.filter { $0 != "phone_sealed" }

    private static func isASCIILetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    func validate(_ fields: Fields) throws(RowRejection) -> [String?] {
        let name = try fields.required("name")
        let phone = try fields.phone("phone")
        let booth = try fields.required("booth_code")
        var gender: String?
        if let text = try fields.optional("gender") {
            switch text.lowercased() {
            case "f", "female": gender = "F"
            case "m", "male": gender = "M"
            case "t", "third gender", "transgender", "other", "o": gender = "T"
            default: throw RowRejection("gender", "is not F, M or T")
            }
        }
        let age = try fields.integer("age", in: 18...120)
        var language: String?
        if let text = try fields.optional("language") {
            guard text.utf8.count <= 8, text.utf8.allSatisfy({ Self.isASCIILetter($0) || $0 == UInt8(ascii: "-") }) else {
                throw RowRejection("language", "is not a language code such as hi, en or mr")
            }
            language = text.lowercased()
        }
        var epic: String?
        if let text = try fields.optional("epic") {
            guard text.utf8.count <= 20, text.utf8.allSatisfy({
                Self.isASCIILetter($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "/")
            }) else {
                throw RowRejection("epic", "is not an EPIC id (letters, digits and '/', at most 20)")
            }
            epic = text.uppercased()
        }
        let ac = try fields.integer("ac_number", in: 1...9999)
        let part = try fields.integer("part_number", in: 1...99999)
        let serial = try fields.integer("serial_number", in: 1...999_999)
        let given = [ac, part, serial].filter { $0 != nil }.count
        guard given == 0 || given == 3 else {
            throw RowRejection(ac == nil ? "ac_number" : part == nil ? "part_number" : "serial_number",
                               "is empty; ac_number, part_number and serial_number go together")
        }
        let number = vault.stored(phone.number)
        return [name, number.hash, number.sealed, number.tail, phone.kind.rawValue, booth, gender, age.map(String.init), language, epic,
                ac.map(String.init), part.map(String.init), serial.map(String.init), try fields.optional("house_number"),
                CopyText.array(try fields.list("schemes"))]
    }

    /// A first load of a roll is all new voters: each batch goes straight into `contacts` with
    /// one COPY once a few index lookups show that none of its voters is stored, none repeats
    /// within the batch, and every booth is known. PostgreSQL's unique indexes still guard
    /// the COPY: a voter another batch stored meanwhile fails it, and the batch is retried
    /// down the staged path, which merges it.
    func storeIfAllNew(_ rows: [[String?]], on connection: PostgresConnection) throws -> Bool {
        // Positions in `validate`'s values (the staged columns' order).
        func position(_ column: String) -> Int { Self.columns.firstIndex { $0.name == column }! }
        let name = position("name"), phone = position("phone_hash"), booth = position("booth_code"), epic = position("epic"),
            ac = position("ac_number"), part = position("part_number"), serial = position("serial_number")

        // Codes are keyed by their bytes, as PostgreSQL compares them: Swift's String equality
        // would take two Unicode forms of one code (É, or E and a combining accent) for one.
        let codes = Set(rows.map { Array(($0[booth] ?? "").utf8) })
        var units: [[UInt8]: (id: String, state: String)] = [:]
        for unit in try connection.query("SELECT code, id, state_id FROM org_units WHERE code = ANY($1)",
                                         [codes.map { String(decoding: $0, as: UTF8.self) }]) {
            units[Array(try unit.decode(String.self, at: 0).utf8)] = (String(try unit.decode(Int.self, at: 1)), String(try unit.decode(Int.self, at: 2)))
        }
        // Each row's booth, found once for the checks and the COPY.
        let placed = rows.compactMap { units[Array(($0[booth] ?? "").utf8)] }
        guard placed.count == rows.count else { return false }  // an unknown booth: a reject to report

        // The three identities of `merge`, each once within the batch.
        // (Keys joined with NUL, which no value holds.)
        var epics = Set<String>(), rolls = Set<String>(), unrolled = Set<String>()
        var roll: (state: [String], ac: [String], part: [String], serial: [String]) = ([], [], [], [])
        var plain: (phone: [Data], name: [String], booth: [String]) = ([], [], [])
        for (row, unit) in zip(rows, placed) {
            if let id = row[epic], !epics.insert(id).inserted { return false }
            if let number = row[ac] {
                guard rolls.insert("\(unit.state)\0\(number)\0\(row[part]!)\0\(row[serial]!)").inserted else { return false }
                roll.state.append(unit.state); roll.ac.append(number); roll.part.append(row[part]!); roll.serial.append(row[serial]!)
            } else if row[epic] == nil {
                guard unrolled.insert("\(row[phone]!)\0\(row[name]!)\0\(unit.id)").inserted else { return false }
                plain.phone.append(PhoneVault.bytes(hex: row[phone]!)); plain.name.append(row[name]!); plain.booth.append(unit.id)
            }
        }
        let stored = try Stage.withIndexLookups(on: connection) {
            try connection.query("""
                SELECT EXISTS (SELECT 1 FROM contacts c WHERE c.epic = ANY($1::text[]))
                    OR EXISTS (SELECT 1 FROM unnest($2::bigint[], $3::integer[], $4::integer[], $5::integer[]) AS k(state_id, ac, part, serial)
                               JOIN contacts c ON (c.ac_number, c.part_number, c.serial_number, c.state_id) = (k.ac, k.part, k.serial, k.state_id)
                               WHERE c.ac_number IS NOT NULL)
                    OR EXISTS (SELECT 1 FROM unnest($6::bytea[], $7::text[], $8::bigint[]) AS k(phone_hash, name, booth_id)
                               JOIN contacts c ON (c.phone_hash, c.name, c.booth_id) = (k.phone_hash, k.name, k.booth_id)
                               WHERE c.epic IS NULL AND c.ac_number IS NULL)
                """, [Array(epics), roll.state, roll.ac, roll.part, roll.serial, plain.phone, plain.name, plain.booth])[0]
                .decode(Bool.self, at: 0)
        }
        guard !stored else { return false }

        // The staged values as they are, with the booth's id in place of its code, and its state.
        let columns = Self.columns.map { $0.name == "booth_code" ? "booth_id" : $0.name } + ["state_id"]
        var text: [UInt8] = []
        text.reserveCapacity(rows.count * 160)
        for (var row, unit) in zip(rows, placed) {
            row[booth] = unit.id
            row.append(unit.state)
            CopyText.appendRow(row, to: &text)
        }
        let copied = try connection.copyIn("COPY contacts (\(columns.joined(separator: ", "))) FROM STDIN",
                                           chunks: [text])
        guard copied == rows.count else { throw IngestFailure("COPY into contacts stored \(copied) of \(rows.count) rows") }
        return true
    }

    func merge(_ stage: Stage) throws {
        try stage.run("""
            UPDATE {stage} s SET booth_id = u.id, state_id = u.state_id FROM org_units u
            WHERE s.outcome IS NULL AND u.code = s.booth_code
            """)
        try stage.reject(where: "s.booth_id IS NULL", field: "booth_code", reason: "'no unit has ' || \(Stage.named("s.booth_code"))")

        // One row per voter within the batch, by each of the three identities in turn.
        let compared = Self.compared
        let identities = [("s.epic", "s.epic IS NOT NULL"),
                          ("(s.state_id, s.ac_number, s.part_number, s.serial_number)", "s.ac_number IS NOT NULL"),
                          ("(s.phone_hash, s.name, s.booth_id)", "s.epic IS NULL AND s.ac_number IS NULL")]
        if try stage.hasDuplicates(identities.map { (key: $0.0, condition: $0.1) }) {
            try stage.dedupe(key: identities[0].0, where: identities[0].1, compared: compared,
                             duplicates: .supersededUnlessIdentical(field: "epic", what: "EPIC id"))
            try stage.dedupe(key: identities[1].0, where: identities[1].1, compared: compared,
                             duplicates: .supersededUnlessIdentical(field: "serial_number", what: "roll position"))
            try stage.dedupe(key: identities[2].0, where: identities[2].1, compared: compared,
                             duplicates: .supersededUnlessIdentical(field: "name", what: "phone, name and booth"))
        }

        // The stored voter each row names, looked up row by row through the unique indexes.
        try stage.withIndexLookups {
            try stage.run("""
                UPDATE {stage} s SET target = c.id FROM contacts c
                WHERE s.outcome IS NULL AND s.epic IS NOT NULL AND c.epic IS NOT NULL AND c.epic = s.epic
                """)
            try stage.run("""
                WITH holder AS (
                    SELECT s.line, c.id, c.epic FROM {stage} s JOIN contacts c
                        ON (c.ac_number, c.part_number, c.serial_number, c.state_id) = (s.ac_number, s.part_number, s.serial_number, s.state_id)
                    WHERE s.outcome IS NULL AND s.ac_number IS NOT NULL AND c.ac_number IS NOT NULL
                )
                UPDATE {stage} s SET
                    target = coalesce(s.target, h.id),
                    outcome = CASE WHEN s.target IS NOT NULL AND s.target <> h.id THEN 'rejected'
                                   WHEN s.target IS NULL AND h.epic IS NOT NULL AND s.epic IS NOT NULL THEN 'rejected' END,
                    reject_field = CASE WHEN s.target IS NOT NULL AND s.target <> h.id THEN 'epic'
                                        WHEN s.target IS NULL AND h.epic IS NOT NULL AND s.epic IS NOT NULL THEN 'serial_number' END,
                    reject_reason = CASE WHEN s.target IS NOT NULL AND s.target <> h.id THEN 'the EPIC id and the roll position name two different voters'
                                         WHEN s.target IS NULL AND h.epic IS NOT NULL AND s.epic IS NOT NULL
                                         THEN 'the roll position belongs to a voter with another EPIC id' END
                FROM holder h WHERE s.line = h.line
                """)
            try stage.run("""
                UPDATE {stage} s SET target = c.id FROM contacts c
                WHERE s.outcome IS NULL AND s.target IS NULL AND s.epic IS NULL AND s.ac_number IS NULL
                  AND c.epic IS NULL AND c.ac_number IS NULL AND (c.phone_hash, c.name, c.booth_id) = (s.phone_hash, s.name, s.booth_id)
                """)
        }
        // Two rows found one voter by different identities (one by EPIC, one by roll position).
        try stage.dedupe(key: "s.target", where: "s.target IS NOT NULL", compared: compared,
                         duplicates: .supersededUnlessIdentical(field: "epic", what: "voter"))

        // An update merges: what the row leaves empty keeps its stored value (a scheme list
        // without the voter's EPIC id does not erase it), and schemes accumulate.
        let merged = """
            SELECT s.line, s.target, s.name, s.phone_hash, s.phone_sealed, s.phone_tail, s.phone_kind, s.booth_id, s.state_id,
                   coalesce(s.gender, c.gender) AS gender, coalesce(s.age, c.age) AS age,
                   coalesce(s.language, c.language) AS language, coalesce(s.epic, c.epic) AS epic,
                   CASE WHEN s.ac_number IS NULL THEN c.ac_number ELSE s.ac_number END AS ac_number,
                   CASE WHEN s.ac_number IS NULL THEN c.part_number ELSE s.part_number END AS part_number,
                   CASE WHEN s.ac_number IS NULL THEN c.serial_number ELSE s.serial_number END AS serial_number,
                   coalesce(s.house_number, c.house_number) AS house_number,
                   c.schemes || ARRAY(SELECT x FROM unnest(s.schemes) WITH ORDINALITY AS t(x, n)
                                      WHERE x <> ALL (c.schemes) ORDER BY n) AS schemes
            FROM {stage} s JOIN contacts c ON c.id = s.target WHERE s.outcome IS NULL
            """
        let assignments = Self.stored.map { "\($0) = m.\($0)" }.joined(separator: ", ")
        let storedRow = "ROW(\(Self.compared.map { "c.\($0)" }.joined(separator: ", ")), c.state_id)"
        let mergedRow = "ROW(\(Self.compared.map { "m.\($0)" }.joined(separator: ", ")), m.state_id)"
        try stage.withIndexLookups {
            try stage.run("""
                WITH merged AS (\(merged)), changed AS (
                    UPDATE contacts c SET \(assignments), state_id = m.state_id, updated_at = now()
                    FROM merged m
                    WHERE c.id = m.target AND \(storedRow) IS DISTINCT FROM \(mergedRow)
                    RETURNING c.id
                )
                UPDATE {stage} s SET outcome = 'updated' FROM changed WHERE s.outcome IS NULL AND s.target = changed.id
                """)
        }
        try stage.mark("unchanged", where: "s.target IS NOT NULL")
        try stage.copyPending(into: "contacts", columns: Self.stored + ["state_id"])
    }
}
