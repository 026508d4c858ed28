import SamparkCore
import SamparkPostgres

/// `call_centres`: code, name, region_codes (`;`-separated unit codes), seats, and optionally
/// shifts (`;`-separated `HH:MM-HH:MM`, IST) and languages. A reload replaces a centre's
/// regions, shifts and languages. Calling hours (`calls_from`, `calls_to`) span the shifts.
struct CallCentreLoader: SourceLoader {
    let source = IngestSource.callCentres
    let stagedColumns: [(name: String, type: String)] = [
        ("code", "text"), ("name", "text"), ("region_codes", "text[]"), ("seats", "integer"), ("shifts", "text[]"),
        ("languages", "text[]"), ("calls_from", "time"), ("calls_to", "time"),
    ]
    let workColumns: [(name: String, type: String)] = [("region_ids", "bigint[]"), ("missing", "text"), ("centre_id", "bigint")]

    func validate(_ fields: Fields) throws(RowRejection) -> [String?] {
        let code = try fields.required("code")
        // The table's rule too; checked here so a bad row cannot fail the batch's transaction.
        guard code.count <= 64, code.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            throw RowRejection("code", "may hold only letters, digits, '-' and '_' (it names the centre's queue)")
        }
        // The centre's broker users are `centre-<code>` and `centre-<code>-gateway`, lowercased
        // (docs/security.md): a code ending so would be another centre's gateway.
        guard !code.lowercased().hasSuffix("-gateway") else {
            throw RowRejection("code", "may not end in -gateway (the name of a centre's gateway user)")
        }
        let name = try fields.required("name")
        let regions = try fields.list("region_codes")
        guard !regions.isEmpty else { throw RowRejection("region_codes", "is empty") }
        let seats = try fields.requiredInteger("seats", in: 1...10_000)
        var shifts = try fields.list("shifts")
        if shifts.isEmpty { shifts = ["09:00-21:00"] }
        var spans: [(String, String)] = []
        for shift in shifts {
            let ends = shift.split(separator: "-").map { IngestTime.timeOfDay($0.trimmingCharacters(in: .whitespaces)) }
            guard ends.count == 2, let from = ends[0], let to = ends[1], from < to else {
                throw RowRejection("shifts", "is not a list of HH:MM-HH:MM shifts, each starting before it ends")
            }
            spans.append((from, to))
        }
        let languages = try fields.list("languages").map { $0.lowercased() }
        guard languages.allSatisfy({ $0.count <= 8 && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0 == "-") } }) else {
            throw RowRejection("languages", "is not a list of language codes such as hi;en")
        }
        return [code, name, CopyText.array(regions), String(seats), CopyText.array(spans.map { "\($0.0)-\($0.1)" }),
                CopyText.array(languages), spans.map(\.0).min(), spans.map(\.1).max()]
    }

    func merge(_ stage: Stage) throws {
        try stage.run("""
            WITH resolved AS (
                SELECT s.line, array_agg(u.id ORDER BY u.id) FILTER (WHERE u.id IS NOT NULL) AS ids,
                       min(r.code) FILTER (WHERE u.id IS NULL) AS missing
                FROM {stage} s CROSS JOIN unnest(s.region_codes) AS r(code) LEFT JOIN org_units u ON u.code = r.code
                WHERE s.outcome IS NULL GROUP BY s.line
            )
            UPDATE {stage} s SET region_ids = resolved.ids, missing = resolved.missing FROM resolved WHERE s.line = resolved.line
            """)
        try stage.reject(where: "s.missing IS NOT NULL", field: "region_codes", reason: "'no unit has ' || \(Stage.named("s.missing"))")
        // Codes differing only in case would share the centre's broker users.
        try stage.reject(where: """
            EXISTS (SELECT 1 FROM call_centres cc WHERE lower(cc.code) = lower(s.code) AND cc.code <> s.code)
            OR EXISTS (SELECT 1 FROM {stage} o WHERE lower(o.code) = lower(s.code) AND o.code <> s.code AND o.line < s.line)
            """, field: "code", reason: "'differs only in case from another centre''s code (they would share one broker user)'")
        try stage.dedupe(key: "s.code", compared: ["name", "region_ids", "seats", "shifts", "languages"],
                         duplicates: .supersededUnlessIdentical(field: "code", what: "centre code"))
        try stage.run("""
            WITH stored AS (
                SELECT cc.id, cc.name, cc.seats, cc.shifts, cc.languages,
                       (SELECT array_agg(unit_id ORDER BY unit_id) FROM call_centre_regions r WHERE r.centre_id = cc.id) AS region_ids
                FROM call_centres cc
            )
            UPDATE {stage} s SET centre_id = stored.id,
                outcome = CASE WHEN ROW(s.name, s.seats, s.shifts, s.languages, s.region_ids)
                    IS NOT DISTINCT FROM ROW(stored.name, stored.seats, stored.shifts, stored.languages, stored.region_ids)
                    THEN 'unchanged' END
            FROM stored JOIN call_centres cc ON cc.id = stored.id
            WHERE s.outcome IS NULL AND cc.code = s.code
            """)
        try stage.run("""
            WITH changed AS (
                UPDATE call_centres cc SET name = s.name, seats = s.seats, shifts = s.shifts, languages = s.languages,
                    calls_from = s.calls_from, calls_to = s.calls_to
                FROM {stage} s WHERE s.outcome IS NULL AND s.centre_id = cc.id RETURNING cc.id
            )
            UPDATE {stage} s SET outcome = 'updated' FROM changed WHERE s.outcome IS NULL AND s.centre_id = changed.id
            """)
        try stage.run("""
            WITH added AS (
                INSERT INTO call_centres (code, name, seats, shifts, languages, calls_from, calls_to)
                SELECT code, name, seats, shifts, languages, calls_from, calls_to FROM {stage} s WHERE s.outcome IS NULL
                RETURNING id, code
            )
            UPDATE {stage} s SET centre_id = added.id, outcome = 'inserted' FROM added WHERE s.outcome IS NULL AND s.code = added.code
            """)
        // Regions of the centres written in this batch: replaced by the file's.
        try stage.run("""
            DELETE FROM call_centre_regions r USING {stage} s WHERE s.outcome IN ('inserted', 'updated') AND r.centre_id = s.centre_id
            """)
        try stage.run("""
            INSERT INTO call_centre_regions (centre_id, unit_id)
            SELECT s.centre_id, unnest(s.region_ids) FROM {stage} s WHERE s.outcome IN ('inserted', 'updated')
            """)
    }
}
