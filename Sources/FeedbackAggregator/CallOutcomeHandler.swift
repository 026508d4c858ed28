import Foundation
import SamparkCore
import SamparkPostgres
import SamparkRuntime

/// Handles `call.outcome.v2` on the aggregator's own queue, many outcomes per transaction
/// (a `BatchMessageHandler`): each attempt is recorded in the ledger once (its attempt id and
/// its message id are each unique there, as in the inbox), and only what was recorded for the
/// first time is counted: the day's aggregates per centre and campaign kind, and per campaign
/// and the entry's unit (reports of a district, a state or the nation sum their subtree's
/// rows); survey answers the same way; an `opted_out` becomes an opt-out from this moment; a voter who says they voted is
/// marked (no turnout call follows). All in one statement over the batch. The entry's next
/// state is the dispatcher's, from its own copy of the outcome (docs/dispatch.md).
public struct CallOutcomeHandler: BatchMessageHandler {
    public init() {}

    /// What the statement reads of each outcome: the outcome's own fields and its message id.
    private struct Row: Encodable {
        let messageID: String
        let attemptID: Int64
        let entryID: Int64
        let agent: String
        let disposition: String
        let callbackAt: Date?
        let talkSeconds: Int?
        let answers: [String: String]?
        let notes: String?
        let issueTags: [String]?
        let schemeFeedback: String?
        let turnout: String?
        let startedAt: Date
        let endedAt: Date

        enum CodingKeys: String, CodingKey {
            case messageID = "message_id", attemptID = "attempt_id", entryID = "entry_id", agent, disposition
            case callbackAt = "callback_at", talkSeconds = "talk_seconds", answers, notes, issueTags = "issue_tags"
            case schemeFeedback = "scheme_feedback", turnout, startedAt = "started_at", endedAt = "ended_at"
        }
    }

    public func handle(_ batch: [Incoming<CallOutcome>], context: HandlerContext) throws {
        let connection = context.connection
        for item in batch {
            guard !item.message.agent.isEmpty, item.message.agent.count <= 100 else {
                throw HandlerError.permanent("agent: is empty or longer than 100 characters")
            }
        }
        let rows = batch.map { item in
            let o = item.message
            return Row(messageID: item.messageID, attemptID: o.attemptID, entryID: o.entryID, agent: o.agent,
                       disposition: o.disposition.rawValue, callbackAt: o.callbackAt, talkSeconds: o.talkSeconds.map { max(0, $0) },
                       answers: o.answers, notes: o.notes, issueTags: o.issueTags, schemeFeedback: o.schemeFeedback?.rawValue,
                       turnout: o.turnout?.rawValue, startedAt: o.startedAt, endedAt: o.endedAt)
        }
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let json = PostgresJSONText(String(decoding: try encoder.encode(rows), as: UTF8.self))

        // An outcome naming no offer, or an offer of another entry, can never be recorded: the
        // batch fails and the runner handles each outcome alone, dead-lettering that one.
        if let unknown = try connection.query("""
            SELECT x.attempt_id, o.id IS NULL FROM jsonb_to_recordset($1::jsonb) AS x(attempt_id bigint, entry_id bigint)
            LEFT JOIN offers o ON o.id = x.attempt_id
            WHERE o.id IS NULL OR o.entry_id <> x.entry_id LIMIT 1
            """, [json], prepared: true).first {
            throw HandlerError.permanent(try unknown.decode(Bool.self, at: 1)
                ? "attempt_id: no offer was made with this attempt id" : "entry_id: the attempt was an offer of another entry")
        }
        try connection.execute(Self.recordSQL, [json], prepared: true)
    }

    /// What both aggregates count of the calls recorded: every call, each disposition (its
    /// column is named after it), and the voters who said they voted.
    static let callCounts: [(column: String, condition: String)] =
        [("attempts", "true")] + Disposition.allCases.map { ($0.rawValue, "disposition = '\($0.rawValue)'") } + [("voted", "turnout = 'voted'")]

    /// An upsert adding this batch's counts, grouped by `from` (the aggregate's `keys`), to
    /// what the aggregate holds. One order for every batch (the keys'): two batches committing
    /// at once never wait on each other's rows crosswise.
    static func upsert(into table: String, keys: [String], from columns: [String], counts: [(column: String, condition: String)]) -> String {
        let names = counts.map(\.column)
        return """
            INSERT INTO \(table) (\((keys + names).joined(separator: ", ")))
                SELECT \(columns.joined(separator: ", ")), \(counts.map { "count(*) FILTER (WHERE \($0.condition))" }.joined(separator: ", "))
                FROM counted GROUP BY \(columns.joined(separator: ", ")) ORDER BY \(columns.joined(separator: ", "))
                ON CONFLICT (\(keys.joined(separator: ", "))) DO UPDATE SET
                    \(names.map { "\($0) = \(table).\($0) + EXCLUDED.\($0)" }.joined(separator: ",\n                "))
            """
    }

    /// $1: the batch as a JSON array of `Row`s.
    static let recordSQL = """
        /* sampark feedback: record */
        WITH incoming AS (
            SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
                message_id text, attempt_id bigint, entry_id bigint, agent text, disposition text, callback_at timestamptz,
                talk_seconds int, answers jsonb, notes text, issue_tags text[], scheme_feedback text, turnout text,
                started_at timestamptz, ended_at timestamptz)
        ),
        known AS (
            SELECT i.*, o.centre_id, e.phone, e.contact_id, l.campaign_id, k.kind, coalesce(v.booth_id, p.unit_id) AS unit_id,
                   (i.started_at AT TIME ZONE 'Asia/Kolkata')::date AS day
            FROM incoming i
            JOIN offers o ON o.id = i.attempt_id
            JOIN list_entries e ON e.id = o.entry_id
            JOIN call_lists l ON l.id = e.list_id JOIN campaigns k ON k.id = l.campaign_id
            LEFT JOIN contacts v ON v.id = e.contact_id LEFT JOIN people p ON p.id = e.person_id
        ),
        -- Once per attempt: a repeat (another message id, or the same attempt twice in this
        -- batch) inserts nothing and so counts nothing.
        recorded AS (
            INSERT INTO attempts (entry_id, centre_id, agent, result, has_voted, feedback, started_at, ended_at, message_id, offer_id,
                                  campaign_id, unit_id, day, talk_seconds, callback_at, answers, issue_tags, scheme_feedback, turnout)
            SELECT entry_id, centre_id, agent, disposition, CASE WHEN turnout IS NOT NULL THEN turnout = 'voted' END, notes,
                   started_at, ended_at, message_id, attempt_id, campaign_id, unit_id, day, talk_seconds, callback_at, answers,
                   issue_tags, scheme_feedback, turnout
            FROM known
            -- In one order, as the inbox's: batches holding the same attempt never wait crosswise.
            ORDER BY attempt_id, message_id
            ON CONFLICT DO NOTHING
            RETURNING message_id
        ),
        -- By message id: the same attempt twice in the batch is one row recorded, one counted.
        counted AS (
            SELECT k.* FROM known k JOIN recorded r ON r.message_id = k.message_id
        ),
        by_centre AS (
            \(upsert(into: "daily_aggregates", keys: ["day", "centre_id", "campaign_kind"], from: ["day", "centre_id", "kind"],
                     counts: callCounts))
        ),
        -- At the entry's own unit (the voter's booth, the person's unit); a report of any unit
        -- above sums the rows of the units in its subtree (org_units.path), so a batch writes
        -- one row per unit it touched, and concurrent batches do not queue for the nation's row.
        by_unit AS (
            \(upsert(into: "unit_aggregates", keys: ["day", "campaign_id", "unit_id"], from: ["day", "campaign_id", "unit_id"],
                     counts: callCounts + [("benefit_not_received", "scheme_feedback = 'not_received'")]))
        ),
        tallies AS (
            INSERT INTO answer_tallies (day, campaign_id, unit_id, question, answer, answers)
            SELECT c.day, c.campaign_id, c.unit_id, a.key, a.value, count(*)
            FROM counted c CROSS JOIN LATERAL jsonb_each_text(c.answers) AS a
            WHERE c.answers IS NOT NULL
            GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
            ON CONFLICT (day, campaign_id, unit_id, question, answer) DO UPDATE SET answers = answer_tallies.answers + EXCLUDED.answers
        ),
        opt_outs_added AS (
            INSERT INTO opt_outs (phone, source)
            SELECT DISTINCT phone, 'call' FROM counted WHERE disposition = 'opted_out'
            ON CONFLICT (phone) DO NOTHING
        )
        -- A voter who says they voted is marked: no turnout call follows.
        INSERT INTO turnout_marks (contact_id, voted_at, source)
        SELECT DISTINCT ON (contact_id) contact_id, ended_at, 'call' FROM counted
        WHERE turnout = 'voted' AND contact_id IS NOT NULL
        ORDER BY contact_id, ended_at
        ON CONFLICT (contact_id) DO NOTHING
        """
}
