import Foundation
import SamparkCore
import SamparkPostgres
import SamparkRuntime

/// Handles `call.outcome.v2` on the aggregator's own queue: records the attempt in the
/// ledger once (the attempt id and the message id are each unique there, as in the inbox),
/// turns an `opted_out` into an opt-out from this moment, marks a voter who says they voted
/// (no turnout call follows), and adds the call to the day's aggregates, all in the message's
/// transaction. The entry's next state is the dispatcher's, from its own copy of the outcome
/// (docs/dispatch.md).
public struct CallOutcomeHandler: MessageHandler {
    public init() {}

    public func handle(_ outcome: CallOutcome, context: HandlerContext) throws {
        let connection = context.connection
        guard let entry = try connection.query("""
            SELECT e.id, e.phone, o.centre_id, k.kind, e.contact_id FROM offers o
            JOIN list_entries e ON e.id = o.entry_id JOIN call_lists l ON l.id = e.list_id JOIN campaigns k ON k.id = l.campaign_id
            WHERE o.id = $1
            """, [outcome.attemptID], prepared: true).first else {
            throw HandlerError.permanent("attempt_id: no offer was made with this attempt id")
        }
        guard try entry.decode(Int64.self, at: 0) == outcome.entryID else {
            throw HandlerError.permanent("entry_id: the attempt was an offer of another entry")
        }
        let centreID = try entry.decode(Int64.self, at: 2)
        let kind = try entry.decode(String.self, at: 3)
        let voted = outcome.turnout == .voted
        let recorded = try connection.execute("""
            INSERT INTO attempts (entry_id, centre_id, agent, result, has_voted, feedback, started_at, ended_at, message_id, offer_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT DO NOTHING
            """, [outcome.entryID, centreID, outcome.agent, outcome.disposition.rawValue, outcome.turnout.map { $0 == .voted },
                  outcome.notes, outcome.startedAt, outcome.endedAt, context.messageID, outcome.attemptID], prepared: true)
        // Recorded before (this attempt's outcome came again, under another message id).
        guard recorded == 1 else { return }

        if outcome.disposition == .optedOut {
            try connection.execute("INSERT INTO opt_outs (phone, source) VALUES ($1, 'call') ON CONFLICT (phone) DO NOTHING",
                                   [try entry.decode(String.self, at: 1)], prepared: true)
        }
        if voted, let contact = try entry.decode(Int64?.self, at: 4) {
            try connection.execute("""
                INSERT INTO turnout_marks (contact_id, voted_at, source) VALUES ($1, $2, 'call') ON CONFLICT (contact_id) DO NOTHING
                """, [contact, outcome.endedAt], prepared: true)
        }
        func one(_ disposition: Disposition) -> Int { outcome.disposition == disposition ? 1 : 0 }
        try connection.execute("""
            INSERT INTO daily_aggregates (day, centre_id, campaign_kind, attempts, connected, no_answer, busy, wrong_number, opted_out,
                                          voted, switched_off, not_reachable, call_back, refused, language_barrier)
            VALUES (($1::timestamptz AT TIME ZONE 'Asia/Kolkata')::date, $2, $3, 1, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
            ON CONFLICT (day, centre_id, campaign_kind) DO UPDATE SET
                attempts = daily_aggregates.attempts + 1,
                connected = daily_aggregates.connected + EXCLUDED.connected,
                no_answer = daily_aggregates.no_answer + EXCLUDED.no_answer,
                busy = daily_aggregates.busy + EXCLUDED.busy,
                wrong_number = daily_aggregates.wrong_number + EXCLUDED.wrong_number,
                opted_out = daily_aggregates.opted_out + EXCLUDED.opted_out,
                voted = daily_aggregates.voted + EXCLUDED.voted,
                switched_off = daily_aggregates.switched_off + EXCLUDED.switched_off,
                not_reachable = daily_aggregates.not_reachable + EXCLUDED.not_reachable,
                call_back = daily_aggregates.call_back + EXCLUDED.call_back,
                refused = daily_aggregates.refused + EXCLUDED.refused,
                language_barrier = daily_aggregates.language_barrier + EXCLUDED.language_barrier
            """, [outcome.startedAt, centreID, kind, one(.connected), one(.noAnswer), one(.busy), one(.wrongNumber), one(.optedOut),
                  voted ? 1 : 0, one(.switchedOff), one(.notReachable), one(.callBack), one(.refused), one(.languageBarrier)],
            prepared: true)
    }
}
