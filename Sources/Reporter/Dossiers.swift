import Foundation
import SamparkCore
import SamparkPostgres

/// The war room's constituency dossier (docs/reports.md): what one click shows of an
/// assembly constituency, from the tree, the rolls, the people and the past results.
public enum Dossiers {
    /// A booth is weak when the party is behind there or its share is under this.
    public static let weakShare = 0.4
    /// The weak booths a dossier lists, weakest first.
    public static let weakBoothsListed = 25

    public static func build(constituency code: String, election: String?, party: String, day: String, districtLevel: String,
                             generatedAt: Date, on connection: PostgresConnection) throws -> ConstituencyDossier {
        let scope = try DailyReports.scope(code: code, on: connection)
        guard let path = scope.path else { throw ReportError.unknown("constituency: name an assembly constituency, not the nation") }
        let district = try connection.query("""
            SELECT d.code FROM org_units d WHERE d.level = $2 AND d.path @> $1::ltree ORDER BY nlevel(d.path) DESC LIMIT 1
            """, [path, districtLevel], prepared: true).first?.decode(String.self, at: 0)
        // The latest election with results here (by the year in its name), unless one is named.
        let chosen: String?
        if let election {
            chosen = election
        } else {
            chosen = try connection.query("""
                SELECT r.election FROM booth_results r JOIN org_units b ON b.id = r.booth_id WHERE b.path <@ $1::ltree
                GROUP BY r.election ORDER BY substring(r.election FROM '[0-9]{4}') DESC NULLS LAST, r.election DESC LIMIT 1
                """, [path], prepared: true).first?.decode(String.self, at: 0)
        }
        // The booths: the subtree's units with no units below them.
        let counts = try connection.query("""
            WITH booths AS (
                SELECT b.id FROM org_units b WHERE b.path <@ $1::ltree AND NOT EXISTS (SELECT 1 FROM org_units c WHERE c.parent_id = b.id)
            )
            SELECT (SELECT count(*) FROM booths),
                   (SELECT count(*) FROM contacts c JOIN booths b ON b.id = c.booth_id),
                   (SELECT count(*) FROM contacts c JOIN booths b ON b.id = c.booth_id WHERE c.schemes <> '{}'),
                   (SELECT count(*) FROM people p JOIN org_units u ON u.id = p.unit_id WHERE u.path <@ $1::ltree)
            """, [path], prepared: true).first.map {
            ConstituencyDossier.Counts(booths: try $0.decode(Int.self, at: 0), voters: try $0.decode(Int.self, at: 1),
                                       beneficiaries: try $0.decode(Int.self, at: 2), people: try $0.decode(Int.self, at: 3))
        } ?? .init(booths: 0, voters: 0, beneficiaries: 0, people: 0)
        var booths: [ConstituencyDossier.BoothResult] = []
        if let chosen {
            booths = try connection.query("""
                WITH results AS (
                    SELECT r.booth_id, max(r.electors) AS electors, sum(r.votes)::bigint AS polled,
                           coalesce(sum(r.votes) FILTER (WHERE r.party = $3), 0)::bigint AS votes
                    FROM booth_results r JOIN org_units b ON b.id = r.booth_id
                    WHERE r.election = $2 AND b.path <@ $1::ltree
                    GROUP BY r.booth_id
                ), rivals AS (
                    SELECT DISTINCT ON (r.booth_id) r.booth_id, r.party, r.votes
                    FROM booth_results r JOIN results x ON x.booth_id = r.booth_id
                    WHERE r.election = $2 AND r.party <> $3
                    ORDER BY r.booth_id, r.votes DESC, r.party
                )
                SELECT b.code, b.name, x.electors, x.polled, x.votes, v.party, coalesce(v.votes, 0)
                FROM results x JOIN org_units b ON b.id = x.booth_id LEFT JOIN rivals v ON v.booth_id = x.booth_id
                ORDER BY b.code
                """, [path, chosen, party], prepared: true).map { row in
                let polled = try row.decode(Int.self, at: 3), votes = try row.decode(Int.self, at: 4), rival = try row.decode(Int.self, at: 6)
                return ConstituencyDossier.BoothResult(
                    booth: try row.decode(String.self, at: 0), name: try row.decode(String.self, at: 1),
                    electors: try row.decode(Int?.self, at: 2), polled: polled, votes: votes, rival: try row.decode(String?.self, at: 5),
                    rivalVotes: rival, margin: votes - rival,
                    share: polled > 0 ? (Double(votes) / Double(polled) * 10_000).rounded() / 10_000 : 0)
            }
        }
        let weak = booths.filter { $0.polled > 0 && ($0.margin < 0 || $0.share < weakShare) }
            .sorted { ($0.share, $0.margin, $0.booth) < ($1.share, $1.margin, $1.booth) }
        let people = try connection.query("""
            SELECT p.name, p.role, u.code, u.level, p.committee, p.responsibilities
            FROM people p JOIN org_units u ON u.id = p.unit_id WHERE u.path <@ $1::ltree
            ORDER BY nlevel(u.path), u.code, p.role, p.name
            """, [path], prepared: true).map {
            ConstituencyDossier.Person(name: try $0.decode(String.self, at: 0), role: try $0.decode(String.self, at: 1),
                                       unit: try $0.decode(String.self, at: 2), level: try $0.decode(String.self, at: 3),
                                       committee: try $0.decode(String?.self, at: 4), responsibilities: try $0.decode(String?.self, at: 5))
        }
        return ConstituencyDossier(
            reportID: "dossier/\(day)/\(scope.scope.code)", day: day, constituency: scope.scope, district: district, generatedAt: generatedAt,
            election: chosen, party: party, counts: counts, booths: booths, weakBooths: Array(weak.prefix(weakBoothsListed)),
            people: people, committees: try DailyReports.committeeCoverage(path: path, day: day, on: connection))
    }

    public static func routingKey(for dossier: ConstituencyDossier) -> String {
        "report.dossier.\(dossier.constituency.state ?? "national").\(dossier.constituency.code)"
    }
}
