import SamparkCore
import SamparkPostgres

/// `poll_calendar`: constituency_code, phase, poll_date, poll_close (HH:MM IST), and optionally
/// election (`general` by default). One row per (constituency, election); a reload updates it.
/// The silence period (48 hours ending at the poll's close) follows from it.
struct PollCalendarLoader: SourceLoader {
    let source = IngestSource.pollCalendar
    let stagedColumns: [(name: String, type: String)] = [
        ("constituency_code", "text"), ("election", "text"), ("phase", "integer"), ("poll_date", "date"), ("poll_closes_at", "timestamptz"),
    ]
    let workColumns: [(name: String, type: String)] = [("constituency_id", "bigint")]

    func validate(_ fields: Fields) throws(RowRejection) -> [String?] {
        let constituency = try fields.required("constituency_code")
        let phase = try fields.requiredInteger("phase", in: 1...99)
        guard let date = try fields.date("poll_date") else { throw RowRejection("poll_date", "is empty") }
        guard let close = try fields.timeOfDay("poll_close") else { throw RowRejection("poll_close", "is empty") }
        return [constituency, try fields.optional("election") ?? "general", String(phase), date, "\(date) \(close):00+05:30"]
    }

    func merge(_ stage: Stage) throws {
        try stage.run("""
            UPDATE {stage} s SET constituency_id = u.id FROM org_units u WHERE s.outcome IS NULL AND u.code = s.constituency_code
            """)
        try stage.reject(where: "s.constituency_id IS NULL", field: "constituency_code",
                         reason: "'no unit has ' || \(Stage.named("s.constituency_code"))")
        try stage.dedupe(key: "(s.constituency_id, s.election)", compared: ["phase", "poll_date", "poll_closes_at"],
                         duplicates: .supersededUnlessIdentical(field: "constituency_code", what: "constituency and election"))
        try stage.upsert(into: "poll_calendar", columns: ["constituency_id", "election", "phase", "poll_date", "poll_closes_at"],
                         key: ["constituency_id", "election"], updating: ["phase", "poll_date", "poll_closes_at"])
    }
}
