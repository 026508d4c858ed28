import SamparkCore
import SamparkPostgres

/// `turnout_marks`, booth agents' marks on polling day: epic, or ac_number, part_number and
/// serial_number (with state_code where the network spans states), and optionally voted_at
/// (the load's time if absent). One mark per voter, the earliest kept. The same rules serve
/// single `turnout.mark.v1` messages.
struct TurnoutMarkLoader: SourceLoader {
    let source = IngestSource.turnoutMarks
    let stagedColumns: [(name: String, type: String)] = [
        ("epic", "text"), ("ac_number", "integer"), ("part_number", "integer"), ("serial_number", "integer"),
        ("state_code", "text"), ("voted_at", "timestamptz"), ("source", "text"),
    ]
    let workColumns: [(name: String, type: String)] = [("state_id", "bigint"), ("contact_id", "bigint"), ("matches", "integer")]
    /// Where the marks came from: the file's name, or the message's source.
    var markSource = "file"

    func validate(_ fields: Fields) throws(RowRejection) -> [String?] {
        let epic = try fields.optional("epic")?.uppercased()
        let ac = try fields.integer("ac_number", in: 1...9999)
        let part = try fields.integer("part_number", in: 1...99999)
        let serial = try fields.integer("serial_number", in: 1...999_999)
        if epic == nil && (ac == nil || part == nil || serial == nil) {
            throw RowRejection(ac == nil ? "epic" : part == nil ? "part_number" : "serial_number",
                               "is empty; a mark names the voter by epic, or by ac_number, part_number and serial_number")
        }
        return [epic, ac.map(String.init), part.map(String.init), serial.map(String.init), try fields.optional("state_code"),
                try fields.timestamp("voted_at"), markSource]
    }

    func merge(_ stage: Stage) throws {
        try stage.run("UPDATE {stage} s SET voted_at = now() WHERE s.outcome IS NULL AND s.voted_at IS NULL")
        try stage.run("""
            UPDATE {stage} s SET state_id = u.state_id FROM org_units u WHERE s.outcome IS NULL AND u.code = s.state_code
            """)
        try stage.reject(where: "s.state_code IS NOT NULL AND s.state_id IS NULL", field: "state_code",
                         reason: "'no unit has ' || \(Stage.named("s.state_code"))")
        try stage.withIndexLookups {
            try stage.run("UPDATE {stage} s SET contact_id = c.id FROM contacts c WHERE s.outcome IS NULL AND s.epic IS NOT NULL AND c.epic IS NOT NULL AND c.epic = s.epic")
            try stage.reject(where: "s.epic IS NOT NULL AND s.contact_id IS NULL", field: "epic", reason: "'no voter has this EPIC id'")
            try stage.run("""
                WITH found AS (
                    SELECT s.line, min(c.id) AS id, count(c.id) AS matches FROM {stage} s JOIN contacts c
                        ON (c.ac_number, c.part_number, c.serial_number) = (s.ac_number, s.part_number, s.serial_number)
                       AND (s.state_id IS NULL OR c.state_id = s.state_id) AND c.ac_number IS NOT NULL
                    WHERE s.outcome IS NULL AND s.epic IS NULL GROUP BY s.line
                )
                UPDATE {stage} s SET contact_id = CASE WHEN found.matches = 1 THEN found.id END, matches = found.matches
                FROM found WHERE s.line = found.line
                """)
        }
        try stage.reject(where: "s.matches > 1", field: "state_code",
                         reason: "'the roll position matches voters in more than one state; add state_code'")
        try stage.reject(where: "s.contact_id IS NULL", field: "serial_number", reason: "'no voter at this roll position'")
        try stage.dedupe(key: "s.contact_id", keep: "s.voted_at, s.line", duplicates: .unchanged)
        // The earliest mark is the one kept.
        try stage.upsert(into: "turnout_marks", columns: ["contact_id", "voted_at", "source"], key: ["contact_id"],
                         updating: ["voted_at", "source"], when: "EXCLUDED.voted_at < t.voted_at")
    }
}
