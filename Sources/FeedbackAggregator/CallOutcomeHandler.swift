import Foundation
import SamparkCore
import SamparkPostgres
import SamparkRuntime

/// Handles `call.outcome.v1`: records the attempt in the ledger (once: the message id is
/// unique there as in the inbox), settles the entry, turns an `opted_out` into an opt-out from
/// this moment, and adds the call to the day's aggregates, all in the message's transaction.
public struct CallOutcomeHandler: MessageHandler {
    public init() {}

    public func handle(_ outcome: CallOutcome, context: HandlerContext) throws {
        let connection = context.connection
        guard let entry = try connection.query("""
            SELECT e.id, e.phone, e.centre_id, k.kind FROM list_entries e
            JOIN call_lists l ON l.id = e.list_id JOIN campaigns k ON k.id = l.campaign_id
            WHERE e.id = $1
            """, [outcome.entryID], prepared: true).first else {
            throw HandlerError.permanent("entry \(outcome.entryID) does not exist")
        }
        let centreID = try entry.decode(Int64.self, at: 2)
        let kind = try entry.decode(String.self, at: 3)
        let recorded = try connection.execute("""
            INSERT INTO attempts (entry_id, centre_id, agent, result, has_voted, feedback, started_at, ended_at, message_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (message_id) DO NOTHING
            """, [outcome.entryID, centreID, outcome.agent, outcome.result.rawValue, outcome.hasVoted, outcome.feedback,
                  outcome.startedAt, outcome.endedAt, context.messageID], prepared: true)
        guard recorded == 1 else { return }

        // Connected, wrong number and opted out end the entry; no answer and busy leave it
        // for another attempt (the dispatcher's retry rules come with its issue).
        let finished: Set<CallResult> = [.connected, .wrongNumber, .optedOut]
        try connection.execute("UPDATE list_entries SET state = $2, last_result = $3 WHERE id = $1",
                               [outcome.entryID, finished.contains(outcome.result) ? "completed" : "pending", outcome.result.rawValue],
                               prepared: true)
        if outcome.result == .optedOut {
            try connection.execute("INSERT INTO opt_outs (phone, source) VALUES ($1, 'call') ON CONFLICT (phone) DO NOTHING",
                                   [try entry.decode(String.self, at: 1)], prepared: true)
        }
        func one(_ result: CallResult) -> Int { outcome.result == result ? 1 : 0 }
        try connection.execute("""
            INSERT INTO daily_aggregates (day, centre_id, campaign_kind, attempts, connected, no_answer, busy, wrong_number, opted_out, voted)
            VALUES (($1::timestamptz AT TIME ZONE 'Asia/Kolkata')::date, $2, $3, 1, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (day, centre_id, campaign_kind) DO UPDATE SET
                attempts = daily_aggregates.attempts + 1,
                connected = daily_aggregates.connected + EXCLUDED.connected,
                no_answer = daily_aggregates.no_answer + EXCLUDED.no_answer,
                busy = daily_aggregates.busy + EXCLUDED.busy,
                wrong_number = daily_aggregates.wrong_number + EXCLUDED.wrong_number,
                opted_out = daily_aggregates.opted_out + EXCLUDED.opted_out,
                voted = daily_aggregates.voted + EXCLUDED.voted
            """, [outcome.startedAt, centreID, kind, one(.connected), one(.noAnswer), one(.busy), one(.wrongNumber), one(.optedOut),
                  outcome.hasVoted == true ? 1 : 0], prepared: true)
    }
}
