import Foundation
import SamparkCore
import SamparkPostgres
import SamparkRuntime

/// Handles `call.outcome.v2` on the aggregator's own queue, many outcomes per transaction
/// (a `BatchMessageHandler`): each attempt is recorded in the ledger once (its attempt id and
/// its message id are each unique there, as in the inbox), and only what was recorded for the
/// first time is counted: the day's aggregates per campaign and the entry's unit (reports of a
/// district, a state or the nation sum their subtree's rows) and per centre and shift; survey
/// answers, scheme feedback and issue tags the same way; a party worker reached (committee coverage) and the corrections they gave to their record;
/// an `opted_out` becomes an opt-out from this moment; a voter who says they voted is marked
/// (no turnout call follows); "benefit not received" raises an escalation for the district,
/// published through the outbox. All in one statement over the batch. The entry's next
/// state is the dispatcher's, from its own copy of the outcome (docs/dispatch.md).
public struct CallOutcomeHandler: BatchMessageHandler {
    public init() {}

    /// The ledger is this handler's inbox: each message id (and each attempt id) is unique
    /// there, and everything the statement counts, marks or raises follows from the rows it
    /// inserted for the first time, so a message seen before does nothing again. An inbox row
    /// as well would be one more row and index entry per outcome, proving nothing more.
    public var recordsMessageIDs: Bool { true }

    public func handle(_ batch: [Incoming<CallOutcome>], context: HandlerContext) throws {
        let connection = context.connection
        for item in batch {
            guard !item.message.agent.isEmpty, item.message.agent.count <= 100 else {
                throw HandlerError.permanent("agent: is empty or longer than 100 characters")
            }
        }
        // The outcomes as they came (each already decoded, so valid), with their message ids:
        // `[{"message_id": ..., "o": <body>}, ...]`. Encoding them again cost as much as the
        // decoding did.
        var text = "["
        for (n, item) in batch.enumerated() {
            if n > 0 { text += "," }
            text += "{\"message_id\":" + Self.jsonString(item.messageID) + ",\"o\":"
            text += item.body.isEmpty ? String(decoding: try MessageCoding.encode(item.message), as: UTF8.self)
                                      : String(decoding: item.body, as: UTF8.self)
            text += "}"
        }
        text += "]"
        let json = PostgresJSONText(text)

        // An outcome naming no offer, an offer of another entry, or a call of a centre its
        // sender may not speak for (``Sender``) can never be recorded. The statement that
        // records the batch also says, per outcome, what it found of its offer; if one fails,
        // the batch is thrown back (rolled back, nothing kept) and the runner handles each
        // outcome alone, dead-lettering that one. (A statement of its own for the check cost
        // a second pass over the offers for every batch that passes it, nearly all of them.)
        var escalations = 0
        for row in try connection.query(Self.recordSQL, [json], prepared: true) {
            guard try row.decode(Bool.self, at: 1) else { throw HandlerError.permanent("attempt_id: no offer was made with this attempt id") }
            guard try row.decode(Bool.self, at: 2) else { throw HandlerError.permanent("entry_id: the attempt was an offer of another entry") }
            if let refusal = Sender.refusal(batch[try row.decode(Int.self, at: 0)].sender, forCentre: try row.decode(String.self, at: 3)) {
                throw HandlerError.permanent(refusal)
            }
            escalations = try row.decode(Int.self, at: 4)
        }
        context.didInsertOutboxRows(escalations)
    }

    /// What the unit and the centre aggregates count of the calls recorded: every call, each
    /// disposition (its column is named after it), and the voters who said they voted.
    static let callCounts: [(column: String, condition: String)] =
        [("attempts", "true")] + Disposition.allCases.map { ($0.rawValue, "disposition = '\($0.rawValue)'") } + [("voted", "turnout = 'voted'")]

    /// What only the unit aggregates count besides the calls: polling-day answers, and
    /// beneficiaries who said the benefit did not reach them.
    static let unitCounts: [(column: String, condition: String)] = [
        ("not_yet", "turnout = 'not_yet'"), ("will_vote", "turnout = 'will_vote'"),
        ("benefit_not_received", "scheme_feedback = 'not_received'"),
    ]

    /// An upsert adding this batch's counts, grouped by `from` (the aggregate's `keys`), to
    /// what the aggregate holds. One order for every batch (the keys'): two batches committing
    /// at once never wait on each other's rows crosswise.
    static func upsert(into table: String, keys: [String], from columns: [String], counts: [(column: String, condition: String)],
                       sums: [(column: String, expression: String)] = []) -> String {
        let names = counts.map(\.column) + sums.map(\.column)
        let values = counts.map { "count(*) FILTER (WHERE \($0.condition))" } + sums.map { "coalesce(sum(\($0.expression)), 0)" }
        return """
            INSERT INTO \(table) (\((keys + names).joined(separator: ", ")))
                SELECT \(columns.joined(separator: ", ")), \(values.joined(separator: ", "))
                FROM counted GROUP BY \(columns.joined(separator: ", ")) ORDER BY \(columns.joined(separator: ", "))
                ON CONFLICT (\(keys.joined(separator: ", "))) DO UPDATE SET
                    \(names.map { "\($0) = \(table).\($0) + EXCLUDED.\($0)" }.joined(separator: ",\n                "))
            """
    }

    /// The shift of the centre's (`09:00-15:00`) a call started in, by its IST time of day;
    /// `other` if none holds it.
    static let shiftOf = """
        coalesce((SELECT s FROM unnest(i.shifts) AS s
                  WHERE (i.started_at AT TIME ZONE 'Asia/Kolkata')::time >= split_part(s, '-', 1)::time
                    AND (i.started_at AT TIME ZONE 'Asia/Kolkata')::time < split_part(s, '-', 2)::time LIMIT 1), 'other')
        """

    /// A string as a JSON string literal.
    static func jsonString(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// $1: the batch as `[{"message_id": ..., "o": <outcome body>}, ...]`. Returns a row per
    /// outcome, in the batch's order: its index, whether its offer exists, whether that offer
    /// was of the outcome's entry, the offer's centre, and the escalations published.
    static let recordSQL = """
        /* sampark feedback: record */
        WITH incoming AS (
            SELECT e.n, e.item ->> 'message_id' AS message_id, x.attempt_id, x.entry_id, x.agent, x.disposition, x.callback_at,
                   greatest(x.talk_seconds, 0) AS talk_seconds, x.answers, x.notes, x.issue_tags, x.scheme_feedback, x.turnout,
                   x.scheme, x.verification, x.started_at, x.ended_at
            FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(item, n), jsonb_to_record(e.item -> 'o') AS x(
                attempt_id bigint, entry_id bigint, agent text, disposition text, callback_at timestamptz,
                talk_seconds int, answers jsonb, notes text, issue_tags text[], scheme_feedback text, turnout text,
                scheme text, verification jsonb, started_at timestamptz, ended_at timestamptz)
        ),
        -- Each outcome's offer, if there is one: what the handler checks, and what is recorded.
        offered AS (
            SELECT i.*, o.id AS offer_id, o.entry_id AS offer_entry_id, o.centre_id, cc.code AS centre_code, cc.shifts
            FROM incoming i LEFT JOIN offers o ON o.id = i.attempt_id LEFT JOIN call_centres cc ON cc.id = o.centre_id
        ),
        known AS (
            SELECT i.*, e.phone_hash, e.contact_id, e.person_id, l.campaign_id,
                   coalesce(v.booth_id, p.unit_id) AS unit_id, (i.started_at AT TIME ZONE 'Asia/Kolkata')::date AS day,
                   -- The scheme of beneficiary feedback: as the desk said, else the first of the
                   -- contact's schemes the list asked about, else the contact's first.
                   CASE WHEN i.scheme_feedback IS NOT NULL THEN coalesce(nullif(i.scheme, ''),
                       (SELECT s FROM unnest(v.schemes) AS s WHERE l.spec->'audience'->'schemes' ? s LIMIT 1), v.schemes[1])
                   END AS feedback_scheme,
                   \(shiftOf) AS shift
            FROM offered i
            JOIN list_entries e ON e.id = i.offer_entry_id
            JOIN call_lists l ON l.id = e.list_id
            LEFT JOIN contacts v ON v.id = e.contact_id LEFT JOIN people p ON p.id = e.person_id
            -- A call whose person was erased meanwhile (its entry has no number left): what it
            -- says is about them, and is not kept (docs/security.md).
            WHERE e.phone_hash IS NOT NULL
        ),
        -- Once per attempt: a repeat (another message id, or the same attempt twice in this
        -- batch) inserts nothing and so counts nothing.
        recorded AS (
            INSERT INTO attempts (entry_id, centre_id, agent, result, has_voted, feedback, started_at, ended_at, message_id, offer_id,
                                  campaign_id, unit_id, day, talk_seconds, callback_at, answers, issue_tags, scheme_feedback, turnout,
                                  scheme, verification)
            SELECT entry_id, centre_id, agent, disposition, CASE WHEN turnout IS NOT NULL THEN turnout = 'voted' END, notes,
                   started_at, ended_at, message_id, attempt_id, campaign_id, unit_id, day, talk_seconds, callback_at, answers,
                   issue_tags, scheme_feedback, turnout, feedback_scheme, verification
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
        -- At the entry's own unit (the voter's booth, the person's unit); a report of any unit
        -- above sums the rows of the units in its subtree (org_units.path), so a batch writes
        -- one row per unit it touched, and concurrent batches do not queue for the nation's row.
        by_unit AS (
            \(upsert(into: "unit_aggregates", keys: ["day", "campaign_id", "unit_id"], from: ["day", "campaign_id", "unit_id"],
                     counts: callCounts + unitCounts, sums: [("talk_seconds", "talk_seconds")]))
        ),
        -- Per centre and shift: each centre's work (calls by disposition, talk time).
        by_shift AS (
            \(upsert(into: "shift_aggregates", keys: ["day", "centre_id", "shift"], from: ["day", "centre_id", "shift"],
                     counts: callCounts, sums: [("talk_seconds", "talk_seconds")]))
        ),
        tallies AS (
            INSERT INTO answer_tallies (day, campaign_id, unit_id, question, answer, answers)
            SELECT c.day, c.campaign_id, c.unit_id, a.key, a.value, count(*)
            FROM counted c CROSS JOIN LATERAL jsonb_each_text(c.answers) AS a
            WHERE c.answers IS NOT NULL
            GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
            ON CONFLICT (day, campaign_id, unit_id, question, answer) DO UPDATE SET answers = answer_tallies.answers + EXCLUDED.answers
        ),
        schemes AS (
            INSERT INTO scheme_tallies (day, campaign_id, unit_id, scheme, received, not_received, partly)
            SELECT day, campaign_id, unit_id, feedback_scheme, count(*) FILTER (WHERE scheme_feedback = 'received'),
                   count(*) FILTER (WHERE scheme_feedback = 'not_received'), count(*) FILTER (WHERE scheme_feedback = 'partly')
            FROM counted WHERE feedback_scheme IS NOT NULL
            GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
            ON CONFLICT (day, campaign_id, unit_id, scheme) DO UPDATE SET received = scheme_tallies.received + EXCLUDED.received,
                not_received = scheme_tallies.not_received + EXCLUDED.not_received, partly = scheme_tallies.partly + EXCLUDED.partly
        ),
        issues AS (
            INSERT INTO issue_tallies (day, campaign_id, unit_id, tag, calls)
            SELECT c.day, c.campaign_id, c.unit_id, t.tag, count(*)
            FROM counted c CROSS JOIN LATERAL (SELECT DISTINCT lower(btrim(x)) AS tag FROM unnest(c.issue_tags) AS x) AS t
            WHERE c.issue_tags IS NOT NULL AND t.tag <> ''
            GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
            ON CONFLICT (day, campaign_id, unit_id, tag) DO UPDATE SET calls = issue_tallies.calls + EXCLUDED.calls
        ),
        -- A party worker reached: committee coverage counts them from that day on.
        reached AS (
            INSERT INTO people_reached (person_id, first_reached_on)
            SELECT person_id, min(day) FROM counted WHERE disposition = 'connected' AND person_id IS NOT NULL
            GROUP BY person_id ORDER BY person_id
            ON CONFLICT (person_id) DO UPDATE SET first_reached_on = EXCLUDED.first_reached_on
                WHERE EXCLUDED.first_reached_on < people_reached.first_reached_on
        ),
        -- What a worker said of their record, for the district to confirm.
        corrections AS (
            INSERT INTO person_corrections (attempt_id, person_id, field, recorded, proposed, day)
            SELECT c.attempt_id, c.person_id, f.key, CASE f.key WHEN 'role' THEN p.role WHEN 'unit' THEN pu.code
                                                          WHEN 'name' THEN p.name ELSE p.responsibilities END, f.value, c.day
            FROM counted c JOIN people p ON p.id = c.person_id JOIN org_units pu ON pu.id = p.unit_id
            CROSS JOIN LATERAL jsonb_each_text(c.verification->'corrections') AS f
            WHERE jsonb_typeof(c.verification->'corrections') = 'object'
              AND f.key IN ('role', 'unit', 'name', 'responsibilities') AND btrim(f.value) <> ''
            ORDER BY c.attempt_id, f.key
            ON CONFLICT (attempt_id, field) DO NOTHING
        ),
        opt_outs_added AS (
            INSERT INTO opt_outs (phone_hash, source)
            SELECT DISTINCT phone_hash, 'call' FROM counted WHERE disposition = 'opted_out'
            ON CONFLICT (phone_hash) DO NOTHING
        ),
        -- A voter who says they voted is marked: no turnout call follows.
        marked AS (
            INSERT INTO turnout_marks (contact_id, voted_at, source)
            SELECT DISTINCT ON (contact_id) contact_id, ended_at, 'call' FROM counted
            WHERE turnout = 'voted' AND contact_id IS NOT NULL
            ORDER BY contact_id, ended_at
            ON CONFLICT (contact_id) DO NOTHING
        ),
        -- "Benefit not received": an escalation for the contact's district, published (through
        -- the outbox, in this transaction) as escalation.raised.v1.
        escalated AS (
            INSERT INTO escalations (attempt_id, day, campaign_id, unit_id, district_id, contact_id, scheme, raised_at)
            SELECT c.attempt_id, c.day, c.campaign_id, c.unit_id,
                   (SELECT d.id FROM org_units u JOIN org_units d ON d.path @> u.path AND d.level = 'district'
                    WHERE u.id = c.unit_id ORDER BY nlevel(d.path) DESC LIMIT 1),
                   c.contact_id, c.feedback_scheme, c.ended_at
            FROM counted c WHERE c.scheme_feedback = 'not_received' AND c.unit_id IS NOT NULL
            ORDER BY c.attempt_id
            ON CONFLICT (attempt_id) DO NOTHING
            RETURNING *
        ),
        escalation_messages AS (
            INSERT INTO outbox (exchange, routing_key, message_id, type, app_id, body, mandatory)
            SELECT '\(Topology.reportsExchange)', 'escalation.' || st.code || '.' || coalesce(d.code, 'none'),
                   'escalation/' || x.attempt_id, '\(EscalationRaised.messageType)', 'feedback-aggregator',
                   convert_to(jsonb_strip_nulls(jsonb_build_object(
                       'escalation_id', x.id, 'attempt_id', x.attempt_id, 'day', x.day::text, 'state', st.code,
                       'district', d.code, 'unit', u.code, 'campaign', k.code, 'scheme', x.scheme, 'contact_id', x.contact_id,
                       'name', v.name, 'phone', '+91******' || v.phone_tail,
                       'raised_at', to_char(x.raised_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')))::text, 'UTF8'),
                   false
            FROM escalated x JOIN org_units u ON u.id = x.unit_id JOIN org_units st ON st.id = u.state_id
            JOIN campaigns k ON k.id = x.campaign_id
            LEFT JOIN org_units d ON d.id = x.district_id LEFT JOIN contacts v ON v.id = x.contact_id
            RETURNING 1
        )
        SELECT (n - 1)::int, offer_id IS NOT NULL, offer_entry_id IS NOT DISTINCT FROM entry_id, coalesce(centre_code, ''),
               (SELECT count(*) FROM escalation_messages)::int
        FROM offered ORDER BY n
        """
}
