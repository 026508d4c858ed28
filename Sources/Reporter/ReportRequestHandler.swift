import Foundation
import SamparkCore
import SamparkPostgres
import SamparkRuntime

/// Handles `report.request.v1`: reads the day's aggregates for the centres in scope, stores
/// the report, and publishes `report.daily.v1` on `sampark.reports` with routing key
/// `report.daily.<scope>` (`all` for the whole tree), where state IT teams bind their queues.
public struct ReportRequestHandler: MessageHandler {
    public init() {}

    public func handle(_ request: ReportRequest, context: HandlerContext) throws {
        let connection = context.connection
        guard request.day.count == 10, let _ = PostgresDate(request.day) else {
            throw HandlerError.permanent("day is not a date as YYYY-MM-DD")
        }
        var scopePath: String?
        if let scope = request.scope {
            guard let path = try connection.query("SELECT path::text FROM org_units WHERE code = $1", [scope], prepared: true).first else {
                throw HandlerError.permanent("scope: no unit has the code in this request")
            }
            scopePath = try path.decode(String.self, at: 0)
        }
        // The centres in scope: those whose regions lie within it (all of them without a scope).
        let inScope = """
            ($2::text IS NULL OR EXISTS (
                SELECT 1 FROM call_centre_regions ccr JOIN org_units r ON r.id = ccr.unit_id
                WHERE ccr.centre_id = cc.id AND r.path <@ $2::ltree))
            """
        let rows = try connection.query("""
            SELECT cc.code, a.campaign_kind, a.attempts, a.connected, a.no_answer, a.busy, a.wrong_number, a.opted_out, a.voted,
                   a.switched_off, a.not_reachable, a.call_back, a.refused, a.language_barrier
            FROM daily_aggregates a JOIN call_centres cc ON cc.id = a.centre_id
            WHERE a.day = $1::date AND \(inScope)
            ORDER BY cc.code, a.campaign_kind
            """, [request.day, scopePath], prepared: true).map { row -> DailyReport.Row in
            guard let kind = CampaignKind(rawValue: try row.decode(String.self, at: 1)) else {
                throw HandlerError.permanent("an aggregate has an unknown campaign kind")
            }
            return DailyReport.Row(centre: try row.decode(String.self, at: 0), kind: kind, counts: DailyReport.Counts(
                attempts: try row.decode(Int.self, at: 2), connected: try row.decode(Int.self, at: 3),
                noAnswer: try row.decode(Int.self, at: 4), busy: try row.decode(Int.self, at: 5),
                wrongNumber: try row.decode(Int.self, at: 6), optedOut: try row.decode(Int.self, at: 7),
                voted: try row.decode(Int.self, at: 8), switchedOff: try row.decode(Int.self, at: 9),
                notReachable: try row.decode(Int.self, at: 10), callBack: try row.decode(Int.self, at: 11),
                refused: try row.decode(Int.self, at: 12), languageBarrier: try row.decode(Int.self, at: 13)))
        }
        let totals = rows.reduce(DailyReport.Counts()) { $0 + $1.counts }
        let refusals = try connection.query("""
            SELECT d.reason, sum(d.calls)::bigint FROM dispatch_refusals d JOIN call_centres cc ON cc.id = d.centre_id
            WHERE d.day = $1::date AND \(inScope)
            GROUP BY d.reason ORDER BY d.reason
            """, [request.day, scopePath], prepared: true).map {
            DailyReport.Refusal(reason: try $0.decode(String.self, at: 0), calls: try $0.decode(Int.self, at: 1))
        }
        let scope = request.scope ?? "all"
        let report = DailyReport(day: request.day, scope: scope, generatedAt: Date(), rows: rows, totals: totals, refusals: refusals)
        try connection.execute("""
            INSERT INTO reports (kind, scope, day, body, request_message_id) VALUES ('daily', $1, $2::date, $3::jsonb, $4)
            """, [scope, request.day, String(decoding: try MessageCoding.encode(report), as: UTF8.self), context.messageID], prepared: true)
        try context.publish(report, exchange: Topology.reportsExchange, routingKey: "report.daily.\(scope)")
    }
}
