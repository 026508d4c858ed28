import Foundation
import SamparkCore
import SamparkPostgres
import SamparkRuntime

/// Handles `list.build.v2` (docs/lists.md): checks the request, finds or creates its campaign,
/// checks every unit, level, scheme, election and material it names, builds the list in one
/// set-based statements (`ListQuery`), and announces `list.ready.v2`, all in the runner's one
/// transaction. So a list and its announcement appear together or not at all: a worker killed
/// mid-build leaves nothing, and the redelivered request builds the list once.
///
/// A request id already built is answered with the list it built. A request that cannot be
/// built throws `HandlerError.permanent` naming the field: the runner dead-letters it and
/// sends the reason to its `reply_to` (`request.rejected.v1`).
public struct ListBuildHandler: MessageHandler {
    /// Memory for the build's sorts and hashes (one list of a million entries sorts and
    /// hashes a few hundred MB); set for the build's transaction only.
    let workMemory: String

    public init(workMemory: String = "256MB") {
        self.workMemory = workMemory
    }

    public func handle(_ request: ListBuildRequest, context: HandlerContext) throws {
        let spec = try ListSpec.check(request)
        let connection = context.connection
        let specJSON = PostgresJSONText(String(decoding: try MessageCoding.encode(request), as: UTF8.self))

        if let built = try connection.query("""
            SELECT id, spec = $2::jsonb, ready::text FROM call_lists WHERE request_id = $1
            """, [request.requestID, specJSON], prepared: true).first {
            guard try built.decode(Bool.self, at: 1) else {
                throw fail("request_id", "was used for another request (list \(try built.decode(Int64.self, at: 0))); give this one a new id")
            }
            let ready = try MessageCoding.decode(ListReady.self, from: Array(try built.decode(String.self, at: 2).utf8))
            try context.reply(ready)
            return
        }

        let campaign = try Campaign.findOrCreate(request, on: connection)
        let scope = try resolve(spec, campaign: campaign, on: connection)
        guard let listID = try connection.query("""
            INSERT INTO call_lists (campaign_id, request_id, scope_id, spec) VALUES ($1, $2, $3, $4)
            ON CONFLICT (request_id) DO NOTHING RETURNING id
            """, [campaign.id, request.requestID, scope.id, specJSON], prepared: true).first?.decode(Int64.self, at: 0) else {
            // Another worker built this request id meanwhile; the retry answers with its list.
            throw HandlerError.transient("request \(request.requestID) was being built by another worker")
        }

        // For this transaction only: memory for the build's sorts, and hash joins rather than
        // merge joins or nested loops. The planner cannot estimate rows coming out of window
        // functions and aggregates (it guesses a few where a million come); for such a guess a
        // merge join that sorts a million rows, or a nested loop that rescans one side per row
        // of the other (a million times a million), looks cheap. Every equality join here is
        // done in one pass by a hash join. (Joins that only a nested loop can do, a subtree
        // test or an unnest, still get one: turning it off only makes it the last resort.)
        // Never beside an erasure (which takes this lock exclusively, docs/security.md).
        try connection.execute("SELECT pg_advisory_xact_lock_shared(1397771595)")
        try connection.execute("SET LOCAL work_mem = '\(workMemory)'")
        try connection.execute("SET LOCAL enable_mergejoin = off")
        try connection.execute("SET LOCAL enable_nestloop = off")
        // The audience is read with parallel workers when there are cores for them: the
        // planner's default cost of passing a row between processes outweighs the scan it
        // shares for a million rows, which measured 3.8 s alone and 2.0 s with two workers.
        try connection.execute("SET LOCAL parallel_setup_cost = 0")
        try connection.execute("SET LOCAL parallel_tuple_cost = 0.001")
        // Rules whose set of numbers is empty are left out of the audience statement.
        let rules = try connection.query("""
            SELECT EXISTS (SELECT 1 FROM attempts WHERE result = 'wrong_number'),
                   EXISTS (SELECT 1 FROM call_lists l JOIN list_entries e ON e.list_id = l.id
                           WHERE l.campaign_id = $1 AND e.state IN ('pending', 'offered', 'waiting')),
                   EXISTS (SELECT 1 FROM erased_phones)
            """, [campaign.id], prepared: true)[0]
        let query = ListQuery.build(spec, listID: listID, campaign: campaign, scope: scope,
                                    rules: .init(wrongNumbers: try rules.decode(Bool.self, at: 0), activeList: try rules.decode(Bool.self, at: 1),
                                                 erased: try rules.decode(Bool.self, at: 2)))
        for statement in [query.audience, query.placement, query.insert] {
            try connection.execute(statement.sql, statement.binds)
        }
        let row = try connection.query(query.report.sql, query.report.binds)[0]
        let order = ListQuery.reasons
        let suppressed = try counts(row, "suppressed").sorted { order.firstIndex(of: $0.name) ?? order.count < order.firstIndex(of: $1.name) ?? order.count }
        let ready = ListReady(
            requestID: request.requestID, listID: listID, campaignID: campaign.id, campaign: campaign.code, kind: spec.kind,
            audience: try row.decode(Int.self, column: "audience"), entries: try row.decode(Int.self, column: "entries"),
            suppressed: suppressed, centres: try counts(row, "centres"), uncovered: try counts(row, "uncovered"),
            shortCommittees: spec.perCommittee == nil ? nil : try counts(row, "short"),
            shortCommitteesTotal: spec.perCommittee == nil ? nil : try row.decode(Int.self, column: "short_total"),
            hash: try row.decode(String.self, column: "hash"))
        // The answer, encoded once: stored with the list, and the processing log's detail (the
        // request id, the counts, the hash; no number or name).
        let readyJSON = String(decoding: try MessageCoding.encode(ready), as: UTF8.self)
        try connection.execute("""
            UPDATE call_lists SET ready = $2::jsonb, entries = $3, hash = $4 WHERE id = $1
            """, [listID, PostgresJSONText(readyJSON), ready.entries, ready.hash], prepared: true)
        try context.publish(ready, exchange: Topology.listsExchange, routingKey: "list.ready")
        try context.logProcessing("list", subject: "list \(listID) of campaign \(campaign.code)", detail: readyJSON)
        try context.reply(ready)
    }

    /// A column holding `[[name, count], ...]` as JSON.
    private func counts(_ row: PostgresRow, _ column: String) throws -> [ListReady.Count] {
        let text = try row.decode(String.self, column: column)
        return try JSONDecoder().decode([NamedCount].self, from: Data(text.utf8)).map { ListReady.Count($0.name, $0.count) }
    }

    private struct NamedCount: Decodable {
        let name: String
        let count: Int
        init(from decoder: any Decoder) throws {
            var pair = try decoder.unkeyedContainer()
            name = try pair.decode(String.self)
            count = try pair.decode(Int.self)
        }
    }

    // MARK: What the request names, checked against the database

    /// Turns codes into ids, and refuses a request naming anything the database does not hold.
    func resolve(_ spec: ListSpec, campaign: Campaign, on connection: PostgresConnection) throws -> Scope {
        guard let row = try connection.query("SELECT id, path::text FROM org_units WHERE code = $1", [spec.scope],
                                             prepared: true).first else {
            throw fail("audience.scope", "no unit has code \(Self.shown(spec.scope))")
        }
        var scope = Scope(id: try row.decode(Int64.self, at: 0), path: try row.decode(String.self, at: 1))
        if spec.kind == .relay, campaign.material == nil {
            throw fail("campaign.material", "is missing: a relay list carries the material to relay")
        }
        if let material = campaign.material,
           try connection.query("SELECT 1 FROM materials WHERE code = $1 LIMIT 1", [material], prepared: true).isEmpty {
            throw fail("campaign.material", "no material has code \(Self.shown(material))")
        }
        if !spec.levels.isEmpty, let unknown = try connection.query("""
            SELECT l FROM unnest($1::text[]) AS l WHERE NOT EXISTS (SELECT 1 FROM org_units u WHERE u.level = l) LIMIT 1
            """, [spec.levels], prepared: true).first {
            throw fail("audience.levels", "no unit has level \(Self.shown(try unknown.decode(String.self, at: 0)))")
        }
        if !spec.schemes.isEmpty, let unknown = try connection.query("""
            SELECT s FROM unnest($1::text[]) AS s WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.schemes @> ARRAY[s]) LIMIT 1
            """, [spec.schemes], prepared: true).first {
            throw fail("audience.schemes", "no contact benefits from scheme \(Self.shown(try unknown.decode(String.self, at: 0)))")
        }
        switch spec.kind {
        case .weakBooth:
            let election = spec.election ?? "", party = spec.party ?? ""
            let found = try connection.query("""
                SELECT EXISTS (SELECT 1 FROM booth_results WHERE election = $1),
                       EXISTS (SELECT 1 FROM booth_results WHERE election = $1 AND party = $2)
                """, [election, party], prepared: true)[0]
            guard try found.decode(Bool.self, at: 0) else { throw fail("audience.election", "no booth result is of election \(Self.shown(election))") }
            guard try found.decode(Bool.self, at: 1) else {
                throw fail("audience.party", "no booth result of election \(Self.shown(election)) names party \(Self.shown(party))")
            }
        case .getOutTheVote:
            if let election = spec.election,
               try connection.query("SELECT 1 FROM poll_calendar WHERE election = $1 LIMIT 1", [election], prepared: true).isEmpty {
                throw fail("audience.election", "the poll calendar has no election \(Self.shown(election))")
            }
            let polling = try connection.query("""
                SELECT 1 FROM poll_calendar pc JOIN org_units u ON u.id = pc.constituency_id
                WHERE pc.poll_date = $1::date AND ($2::text IS NULL OR pc.election = $2::text)
                  AND (u.path <@ $3::ltree OR u.path @> $3::ltree) LIMIT 1
                """, [spec.pollDate, spec.election, scope.path], prepared: true)
            if polling.isEmpty {
                throw fail("audience.poll_date", "no constituency in or above \(Self.shown(spec.scope)) polls on \(spec.pollDate ?? "")")
            }
        case .candidates where !spec.units.isEmpty:
            let rows = try connection.query("""
                SELECT c.code, u.id FROM unnest($1::text[]) AS c(code) LEFT JOIN org_units u ON u.code = c.code
                """, [spec.units], prepared: true)
            for row in rows {
                guard let id = try row.decode(Int64?.self, at: 1) else {
                    throw fail("audience.units", "no unit has code \(Self.shown(try row.decode(String.self, at: 0)))")
                }
                scope.unitIDs.append(id)
            }
        default:
            break
        }
        return scope
    }

    /// A code as a reason may show it: quoted when it looks like a code, withheld when it
    /// does not (a phone number put where a code belongs must not reach a log).
    static func shown(_ code: String) -> String {
        code.count <= 60 && code.filter(\.isASCII).filter(\.isNumber).count < 7
            ? "'\(code)'" : "(not shown: it does not look like a code)"
    }
}

func fail(_ field: String, _ reason: String) -> HandlerError { .permanent("\(field): \(reason)") }

/// The unit whose subtree a list covers, and the units a request names, as ids.
struct Scope {
    let id: Int64
    /// Its ltree path, as text.
    let path: String
    /// candidates: the units whose candidates are called.
    var unitIDs: [Int64] = []
}

/// A campaign as stored: the first request for a code creates it; later requests may name only
/// the code, and whatever else they give must agree with what is stored.
struct Campaign {
    let id: Int64
    let code: String
    let recallDays: Int
    let householdCap: Int
    let material: String?

    /// `HH:MM-HH:MM` as the two times PostgreSQL stores, the start before the end.
    static func window(_ text: String) -> (from: String, to: String)? {
        let ends = text.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        func valid(_ time: String) -> Int? {
            let parts = time.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, parts.allSatisfy({ $0.count == 2 }), let h = Int(parts[0]), let m = Int(parts[1]),
                  (0...24).contains(h), (0..<60).contains(m), h < 24 || m == 0 else { return nil }
            return h * 60 + m
        }
        guard ends.count == 2, let from = valid(ends[0]), let to = valid(ends[1]), from < to else { return nil }
        return (ends[0], ends[1] == "24:00" ? "23:59:59" : ends[1])
    }

    static func findOrCreate(_ request: ListBuildRequest, on connection: PostgresConnection) throws -> Campaign {
        let given = request.campaign
        let window = given.callingHours.flatMap(window)
        if let name = given.name {
            try connection.execute("""
                INSERT INTO campaigns (code, kind, name, recall_days, household_cap, material_code, pacing_ratio, max_attempts,
                                       calls_from, calls_to, dialing)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::time, $10::time, $11) ON CONFLICT (code) DO NOTHING
                """, [given.code, request.kind.rawValue, name, given.recallDays ?? 0, given.householdCap ?? 1, given.material,
                      given.pacingRatio ?? 1, given.maxAttempts ?? 3, window?.from, window?.to, given.dialing ?? "preview"],
                prepared: true)
        }
        // Locked for the build: two lists of one campaign are built one after the other, so
        // "already on an active list of the campaign" sees the other's entries. NO KEY UPDATE:
        // rows that name the campaign (the ledger's, the aggregates', refusals) take a key-share
        // lock on it, and must not wait for a build of a million entries.
        guard let row = try connection.query("""
            SELECT id, kind, name, recall_days, household_cap, material_code, pacing_ratio::float8, max_attempts,
                   to_char(calls_from, 'HH24:MI') || '-' || to_char(calls_to, 'HH24:MI'), dialing
            FROM campaigns WHERE code = $1 FOR NO KEY UPDATE
            """, [given.code], prepared: true).first else {
            throw fail("campaign.code", "no campaign has code \(ListBuildHandler.shown(given.code)); give campaign.name to create it")
        }
        let what = "campaign \(ListBuildHandler.shown(given.code))"
        let storedKind = try row.decode(String.self, at: 1), storedName = try row.decode(String.self, at: 2)
        guard storedKind == request.kind.rawValue else { throw fail("kind", "\(what) is a \(storedKind) campaign") }
        let stored = Campaign(id: try row.decode(Int64.self, at: 0), code: given.code,
                              recallDays: try row.decode(Int.self, at: 3), householdCap: try row.decode(Int.self, at: 4),
                              material: try row.decode(String?.self, at: 5))
        if let name = given.name, name != storedName { throw fail("campaign.name", "differs from the name \(what) has") }
        // A later request may repeat a setting, never change it.
        func unchanged<T: Equatable>(_ field: String, given: T?, stored: T) throws {
            if let given, given != stored {
                throw fail("campaign.\(field)", "\(what) has \(stored); a campaign's settings do not change")
            }
        }
        try unchanged("recall_days", given: given.recallDays, stored: stored.recallDays)
        try unchanged("household_cap", given: given.householdCap, stored: stored.householdCap)
        if let material = given.material, material != stored.material {
            throw fail("campaign.material", "\(what) relays other material; a campaign's settings do not change")
        }
        try unchanged("pacing_ratio", given: given.pacingRatio.map(Float.init), stored: Float(try row.decode(Double.self, at: 6)))
        try unchanged("max_attempts", given: given.maxAttempts, stored: try row.decode(Int.self, at: 7))
        if let window, "\(window.from)-\(window.to.prefix(5))" != (try row.decode(String?.self, at: 8)) {
            throw fail("campaign.calling_hours", "\(what) has other calling hours; a campaign's settings do not change")
        }
        try unchanged("dialing", given: given.dialing, stored: try row.decode(String.self, at: 9))
        return stored
    }
}
