import Foundation
import SamparkCore
import SamparkPostgres

/// Builds daily reports from the aggregates the feedback-aggregator keeps (per day, campaign
/// and unit; per centre and shift; docs/reports.md), never from the ledger: a district's
/// report sums the rows of the units in its subtree (`org_units.path <@` the district's).
public enum DailyReports {
    /// A unit (or the nation, `path` nil) a report covers.
    public struct Scope: Sendable {
        public let scope: ReportScope
        /// The unit's tree path (`ltree` as text); nil for the nation.
        public let path: String?
    }

    /// The scope of a unit code; nil: the nation. Throws `ReportError.unknown` for a code no
    /// unit has.
    public static func scope(code: String?, on connection: PostgresConnection) throws -> Scope {
        guard let code, code != "national" else {
            return Scope(scope: ReportScope(level: "national", code: "national", name: "National", state: nil), path: nil)
        }
        guard let row = try connection.query("\(unitScope) WHERE u.code = $1", [code], prepared: true).first else {
            throw ReportError.unknown("scope: no unit has the code in this request")
        }
        return try scope(of: row)
    }

    /// A unit as a report's scope: its level, code, name, state's code and path.
    private static let unitScope = """
        SELECT u.level, u.code, u.name, s.code, u.path::text FROM org_units u JOIN org_units s ON s.id = u.state_id
        """

    private static func scope(of row: PostgresRow) throws -> Scope {
        Scope(scope: ReportScope(level: try row.decode(String.self, at: 0), code: try row.decode(String.self, at: 1),
                                 name: try row.decode(String.self, at: 2), state: try row.decode(String.self, at: 3)),
              path: try row.decode(String.self, at: 4))
    }

    /// Every scope the set time publishes: each district, each state, the nation.
    public static func allScopes(districtLevel: String, on connection: PostgresConnection) throws -> [Scope] {
        let units = try connection.query("\(unitScope) WHERE u.level IN ($1, 'state') ORDER BY u.level = 'state', u.code",
                                         [districtLevel], prepared: true).map(scope(of:))
        return units + [try scope(code: nil, on: connection)]
    }

    /// The units of the scope: `$2` is its path, NULL for the nation.
    private static let inScope = "($2::ltree IS NULL OR u.path <@ $2::ltree)"

    /// The centres serving the scope: a region of theirs lies within it or holds it.
    private static let centresServing = """
        SELECT cc.id, cc.code FROM call_centres cc
        WHERE $2::ltree IS NULL OR EXISTS (
            SELECT 1 FROM call_centre_regions r JOIN org_units ru ON ru.id = r.unit_id
            WHERE r.centre_id = cc.id AND (ru.path <@ $2::ltree OR ru.path @> $2::ltree))
        """

    /// The day's report of `scope`. `day` is `YYYY-MM-DD` (IST).
    public static func build(_ scope: Scope, day: String, generatedAt: Date, on connection: PostgresConnection) throws -> DailyReport {
        let parameters: [any PostgresEncodable] = [day, scope.path]
        let counts = (["attempts"] + Disposition.allCases.map(\.rawValue) + ["voted"]).map { "sum(a.\($0))::bigint" }
        func decodeCounts(_ row: PostgresRow, from first: Int) throws -> DailyReport.Counts {
            let n = try (0..<12).map { try row.decode(Int?.self, at: first + $0) ?? 0 }
            return DailyReport.Counts(attempts: n[0], connected: n[1], noAnswer: n[2], busy: n[3], switchedOff: n[4], notReachable: n[5],
                                      wrongNumber: n[6], callBack: n[7], refused: n[8], languageBarrier: n[9], optedOut: n[10], voted: n[11])
        }
        let calls = try connection.query("""
            SELECT k.code, k.kind, \(counts.joined(separator: ", "))
            FROM unit_aggregates a JOIN org_units u ON u.id = a.unit_id JOIN campaigns k ON k.id = a.campaign_id
            WHERE a.day = $1::date AND \(inScope)
            GROUP BY k.code, k.kind ORDER BY k.code
            """, parameters, prepared: true).map { row -> DailyReport.CampaignCalls in
            guard let kind = CampaignKind(rawValue: try row.decode(String.self, at: 1)) else {
                throw ReportError.unknown("a campaign has a kind this reporter does not know")
            }
            return DailyReport.CampaignCalls(campaign: try row.decode(String.self, at: 0), kind: kind, counts: try decodeCounts(row, from: 2))
        }
        let turnout = try connection.query("""
            SELECT sum(a.attempts)::bigint, sum(a.connected + a.refused + a.language_barrier + a.call_back + a.opted_out)::bigint,
                   sum(a.voted)::bigint, sum(a.not_yet)::bigint, sum(a.will_vote)::bigint
            FROM unit_aggregates a JOIN org_units u ON u.id = a.unit_id JOIN campaigns k ON k.id = a.campaign_id
            WHERE a.day = $1::date AND \(inScope) AND k.kind = 'gotv'
            """, parameters, prepared: true).first.map { row in
            DailyReport.Turnout(calls: try row.decode(Int?.self, at: 0) ?? 0, reached: try row.decode(Int?.self, at: 1) ?? 0,
                                voted: try row.decode(Int?.self, at: 2) ?? 0, notYet: try row.decode(Int?.self, at: 3) ?? 0,
                                willVote: try row.decode(Int?.self, at: 4) ?? 0)
        } ?? DailyReport.Turnout()
        let committees = try committeeCoverage(path: scope.path, day: day, on: connection)
        let schemes = try connection.query("""
            SELECT a.scheme, sum(a.received)::bigint, sum(a.not_received)::bigint, sum(a.partly)::bigint
            FROM scheme_tallies a JOIN org_units u ON u.id = a.unit_id
            WHERE a.day = $1::date AND \(inScope)
            GROUP BY a.scheme ORDER BY a.scheme
            """, parameters, prepared: true).map { row in
            DailyReport.SchemeFeedback(scheme: try row.decode(String.self, at: 0), received: try row.decode(Int.self, at: 1),
                                       notReceived: try row.decode(Int.self, at: 2), partly: try row.decode(Int.self, at: 3))
        }
        let escalations = try connection.query("""
            SELECT count(*) FILTER (WHERE x.day = $1::date), count(*) FILTER (WHERE x.state = 'open')
            FROM escalations x JOIN org_units u ON u.id = x.unit_id
            WHERE \(inScope)
            """, parameters, prepared: true).first.map {
            DailyReport.Escalations(raised: try $0.decode(Int.self, at: 0), open: try $0.decode(Int.self, at: 1))
        } ?? .init(raised: 0, open: 0)
        let tags = try connection.query("""
            SELECT a.tag, sum(a.calls)::bigint AS calls
            FROM issue_tallies a JOIN org_units u ON u.id = a.unit_id
            WHERE a.day = $1::date AND \(inScope)
            GROUP BY a.tag ORDER BY calls DESC, a.tag LIMIT 10
            """, parameters, prepared: true).map {
            DailyReport.TagCount(tag: try $0.decode(String.self, at: 0), calls: try $0.decode(Int.self, at: 1))
        }
        let centres = try connection.query("""
            WITH serving AS (\(centresServing))
            SELECT s.code, a.shift, sum(a.attempts)::bigint, sum(a.connected)::bigint, sum(a.talk_seconds)::bigint
            FROM shift_aggregates a JOIN serving s ON s.id = a.centre_id
            WHERE a.day = $1::date GROUP BY s.code, a.shift ORDER BY s.code, a.shift
            """, parameters, prepared: true).map {
            DailyReport.CentreShift(centre: try $0.decode(String.self, at: 0), shift: try $0.decode(String.self, at: 1),
                                    attempts: try $0.decode(Int.self, at: 2), connected: try $0.decode(Int.self, at: 3),
                                    talkSeconds: try $0.decode(Int.self, at: 4))
        }
        let refusals = try connection.query("""
            WITH serving AS (\(centresServing))
            SELECT d.reason, sum(d.calls)::bigint FROM dispatch_refusals d JOIN serving s ON s.id = d.centre_id
            WHERE d.day = $1::date GROUP BY d.reason ORDER BY d.reason
            """, parameters, prepared: true).map {
            DailyReport.Refusal(reason: try $0.decode(String.self, at: 0), calls: try $0.decode(Int.self, at: 1))
        }
        let corrections = try connection.query("""
            SELECT count(*) FROM person_corrections c JOIN people p ON p.id = c.person_id JOIN org_units u ON u.id = p.unit_id
            WHERE c.state = 'pending' AND c.day <= $1::date AND \(inScope)
            """, parameters, prepared: true).first?.decode(Int.self, at: 0) ?? 0
        return DailyReport(reportID: DailyReport.reportID(day: day, scope: scope.scope), day: day, scope: scope.scope,
                           generatedAt: generatedAt, calls: calls, totals: calls.reduce(DailyReport.Counts()) { $0 + $1.counts },
                           committees: committees, schemes: schemes, escalations: escalations, issueTags: tags, turnout: turnout,
                           centres: centres, refusals: refusals, pendingCorrections: corrections)
    }

    /// Per level, the units in the subtree with committee members, and those with at least
    /// two of them reached on a call by `day`. `path` nil: the whole tree.
    static func committeeCoverage(path: String?, day: String, on connection: PostgresConnection) throws -> [CommitteeCoverage] {
        try connection.query("""
            WITH members AS (
                SELECT p.unit_id, count(r.person_id) FILTER (WHERE r.first_reached_on <= $1::date) AS reached
                FROM people p JOIN org_units u ON u.id = p.unit_id LEFT JOIN people_reached r ON r.person_id = p.id
                WHERE p.committee IS NOT NULL AND \(inScope)
                GROUP BY p.unit_id
            )
            SELECT u.level, count(*), count(*) FILTER (WHERE m.reached >= 2)
            FROM members m JOIN org_units u ON u.id = m.unit_id
            GROUP BY u.level ORDER BY min(nlevel(u.path)), u.level
            """, [day, path], prepared: true).map {
            CommitteeCoverage(level: try $0.decode(String.self, at: 0), committees: try $0.decode(Int.self, at: 1),
                              reachedTwo: try $0.decode(Int.self, at: 2))
        }
    }

    /// Stores the report under its id, replacing an earlier run's.
    static func store(_ body: [UInt8], reportID: String, kind: String, scope: String, day: String, requestMessageID: String?,
                      on connection: PostgresConnection) throws {
        try connection.execute("""
            INSERT INTO reports (report_id, kind, scope, day, body, request_message_id) VALUES ($1, $2, $3, $4::date, $5::jsonb, $6)
            ON CONFLICT (report_id) DO UPDATE SET body = EXCLUDED.body, request_message_id = EXCLUDED.request_message_id,
                updated_at = now()
            """, [reportID, kind, scope, day, PostgresJSONText(String(decoding: body, as: UTF8.self)), requestMessageID], prepared: true)
    }
}

/// A request the reporter cannot answer: it names what is wrong, never a value.
public enum ReportError: Error, CustomStringConvertible {
    case unknown(String)
    public var description: String {
        switch self {
        case .unknown(let reason): return reason
        }
    }
}
