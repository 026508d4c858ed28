import SamparkCore
import SamparkPostgres

/// The statements that build a list, run in order in the build's one transaction
/// (docs/lists.md): everything is set-based, and no row passes through Swift.
///
/// 1. `audience`: the kind's audience into the temporary table `list_audience`, each row with
///    the first rule on its number that keeps it off (`reason`);
/// 2. `placement`: of those callable, the household's first K, the committee quota, and the
///    centre each is assigned to, into `list_placed`;
/// 3. `insert`: the entries, into `list_entries`, in contact (or person) id order;
/// 4. `report`: the counts, centres, uncovered units and hash of the answer, in one row.
///
/// Why temporary tables and not one statement: the foreign-key checks of a million inserted
/// entries run at the end of the INSERT statement, and within one big statement they ran
/// beside every intermediate result still held in memory (measured: 41 s in one statement,
/// 32 s in these four, for the 1,000,000-entry benchmark list). The temporary tables go with
/// the transaction (`ON COMMIT DROP`); the session's `temp_buffers` keeps them in memory.
struct ListQuery {
    struct Statement {
        var sql: String
        var binds: [any PostgresEncodable]
    }

    let audience: Statement
    let placement: Statement
    let insert: Statement
    let report: Statement

    /// The reasons an entry is left out, in the order the rules apply (docs/lists.md); the
    /// answer lists them so.
    static let reasons = ["landline", "opted_out", "wrong_number", "recently_called", "on_active_list", "outside_material_scope",
                          "household_cap", "over_committee_quota", "no_centre"]

    /// Which rules on the number can keep anyone off: a rule whose set is empty (no wrong
    /// number recorded yet, no recall window, no active list of the campaign) is left out of
    /// the statement instead of joined as an empty set.
    struct Rules {
        var wrongNumbers: Bool
        var activeList: Bool
        /// Numbers were erased on request (`erased_phones` holds their hashes): one is counted
        /// as opted out.
        var erased: Bool = false
    }

    static func build(_ spec: ListSpec, listID: Int64, campaign: Campaign, scope: Scope, rules: Rules) -> ListQuery {
        ListQuery(audience: audienceStatement(spec, campaign: campaign, scope: scope, rules: rules),
                  placement: placementStatement(spec, campaign: campaign),
                  insert: Statement(sql: """
                      INSERT INTO list_entries (list_id, contact_id, person_id, phone_hash, phone_sealed, phone_tail, centre_id, priority,
                                                material_code, material_version)
                      SELECT $1::bigint, contact_id, person_id, phone_hash, phone_sealed, phone_tail, centre_id, priority,
                             CASE WHEN material_version IS NOT NULL THEN $2::text END, material_version
                      FROM list_placed WHERE centre_id IS NOT NULL
                      -- In contact (or person) id order: each row's foreign-key check then reads the
                      -- contacts table in one sweep, not once per set of centres.
                      ORDER BY who
                      """, binds: [listID, campaign.material]),
                  report: reportStatement(spec, campaign: campaign, scope: scope))
    }

    // MARK: 1. The audience and the rules on the number

    private static func audienceStatement(_ spec: ListSpec, campaign: Campaign, scope: Scope, rules: Rules) -> Statement {
        let b = Binds()
        let path = b(scope.path, "ltree")
        let selected: String
        switch spec.kind {
        case .committeeReach, .relay:
            let levels = b(spec.levels, "text[]"), roles = b(spec.roles, "text[]")
            selected = people(path: path, where: "u.level = ANY(\(levels)) AND (\(roles) IS NULL OR p.role = ANY(\(roles)))",
                              trackReached: spec.kind == .committeeReach && spec.perCommittee != nil)
        case .candidates:
            let roles = b(spec.roles ?? ["candidate"], "text[]"), units = b(scope.unitIDs, "bigint[]")
            selected = people(path: path, where: "p.role = ANY(\(roles)) AND (cardinality(\(units)) = 0 OR p.unit_id = ANY(\(units)))",
                              trackReached: false)
        case .schemeFeedback:
            let schemes = b(spec.schemes, "text[]")
            selected = """
                selected AS (
                    SELECT c.id AS contact_id, NULL::bigint AS person_id, c.id AS who, c.phone_hash, c.phone_sealed, c.phone_tail, c.phone_kind,
                           c.booth_id AS unit_id, c.language, 0 AS priority, false AS reached
                    FROM contacts c JOIN org_units b ON b.id = c.booth_id
                    WHERE b.path <@ \(path) AND c.schemes && \(schemes)
                )
                """
        case .weakBooth:
            let election = b(spec.election, "text"), party = b(spec.party, "text"), below = b(spec.shareBelow, "float8")
            // A booth is weak where the party's share of the votes is under the threshold or
            // it lost (its votes under the best rival's); the weakest is worked first.
            selected = """
                results AS (
                    SELECT r.booth_id,
                           coalesce(sum(r.votes) FILTER (WHERE r.party = \(party)), 0) AS ours,
                           coalesce(max(r.votes) FILTER (WHERE r.party <> \(party)), 0) AS best_rival,
                           sum(r.votes) AS polled
                    FROM booth_results r JOIN org_units b ON b.id = r.booth_id
                    WHERE r.election = \(election) AND b.path <@ \(path)
                    GROUP BY r.booth_id
                ), weak AS (
                    SELECT booth_id, row_number() OVER (ORDER BY ours::float8 / polled, ours - best_rival, booth_id)::int AS priority
                    FROM results
                    WHERE polled > 0 AND (ours < best_rival OR ours::float8 / polled < \(below))
                ), selected AS (
                    SELECT c.id AS contact_id, NULL::bigint AS person_id, c.id AS who, c.phone_hash, c.phone_sealed, c.phone_tail, c.phone_kind,
                           c.booth_id AS unit_id, c.language, w.priority, false AS reached
                    FROM contacts c JOIN weak w ON w.booth_id = c.booth_id
                )
                """
        case .getOutTheVote:
            let date = b(spec.pollDate, "date"), election = b(spec.election, "text")
            // Voters in the constituencies polling that day, not yet marked as voted; the
            // booths whose turnout lags most are called first.
            selected = """
                polling AS (
                    SELECT u.path FROM poll_calendar pc JOIN org_units u ON u.id = pc.constituency_id
                    WHERE pc.poll_date = \(date) AND (\(election) IS NULL OR pc.election = \(election))
                ), booths AS (
                    SELECT DISTINCT b.id FROM org_units b JOIN polling p ON b.path <@ p.path WHERE b.path <@ \(path)
                ), voters AS MATERIALIZED (
                    SELECT c.id, c.phone_hash, c.phone_sealed, c.phone_tail, c.phone_kind, c.booth_id, c.language, t.contact_id IS NOT NULL AS voted
                    FROM contacts c JOIN booths b ON b.id = c.booth_id LEFT JOIN turnout_marks t ON t.contact_id = c.id
                ), lagging AS (
                    SELECT booth_id, row_number() OVER (ORDER BY avg(voted::int), booth_id)::int AS priority
                    FROM voters GROUP BY booth_id
                ), selected AS (
                    SELECT v.id AS contact_id, NULL::bigint AS person_id, v.id AS who, v.phone_hash, v.phone_sealed, v.phone_tail, v.phone_kind,
                           v.booth_id AS unit_id, v.language, l.priority, false AS reached
                    FROM voters v JOIN lagging l USING (booth_id)
                    WHERE NOT v.voted
                )
                """
        }

        // Each one the spec chose, with the first rule (in this order) that keeps it off. The
        // rules' numbers are joined, not looked up in subqueries: a hash join spills to disk
        // gracefully where a subquery too big to hash would be scanned per row.
        var sets: [String] = [], joins: [String] = [], cases = ["WHEN s.phone_kind <> 'mobile' THEN 'landline'",
                                                                 "WHEN o.phone_hash IS NOT NULL THEN 'opted_out'"]
        if rules.wrongNumbers {
            sets.append("""
                wrong_numbers AS (
                    SELECT DISTINCT e.phone_hash FROM attempts t JOIN list_entries e ON e.id = t.entry_id WHERE t.result = 'wrong_number'
                )
                """)
            joins.append("LEFT JOIN wrong_numbers w ON w.phone_hash = s.phone_hash")
            cases.append("WHEN w.phone_hash IS NOT NULL THEN 'wrong_number'")
        }
        if campaign.recallDays > 0 {
            let days = b(campaign.recallDays, "int")
            sets.append("""
                recently_called AS (
                    SELECT DISTINCT e.phone_hash FROM attempts t JOIN list_entries e ON e.id = t.entry_id
                    WHERE t.started_at > now() - make_interval(days => \(days))
                )
                """)
            joins.append("LEFT JOIN recently_called r ON r.phone_hash = s.phone_hash")
            cases.append("WHEN r.phone_hash IS NOT NULL THEN 'recently_called'")
        }
        if rules.erased {
            joins.append("LEFT JOIN erased_phones x ON x.phone_hash = s.phone_hash")
            cases.insert("WHEN x.phone_hash IS NOT NULL THEN 'opted_out'", at: 2)
        }
        if rules.activeList {
            let campaignID = b(campaign.id, "bigint")
            sets.append("""
                on_active_list AS (
                    SELECT DISTINCT e.phone_hash FROM call_lists l JOIN list_entries e ON e.list_id = l.id
                    WHERE l.campaign_id = \(campaignID) AND e.state IN ('pending', 'offered', 'waiting')
                )
                """)
            joins.append("LEFT JOIN on_active_list l ON l.phone_hash = s.phone_hash")
            cases.append("WHEN l.phone_hash IS NOT NULL THEN 'on_active_list'")
        }
        // The leading comment names the statement in pg_stat_activity (which keeps only the
        // first 1 kB of a query's text).
        let sql = """
            /* sampark list build: \(spec.kind.rawValue) audience */
            CREATE TEMPORARY TABLE list_audience ON COMMIT DROP AS
            WITH \(([selected] + sets).joined(separator: ",\n"))
            SELECT s.contact_id, s.person_id, s.who, s.phone_hash, s.phone_sealed, s.phone_tail, s.unit_id, coalesce(s.language, '') AS language, s.priority, s.reached,
                   CASE \(cases.joined(separator: " ")) END AS reason
            FROM selected s
            LEFT JOIN opt_outs o ON o.phone_hash = s.phone_hash
            \(joins.joined(separator: "\n"))
            """
        return Statement(sql: sql, binds: b.values)
    }

    /// The audience of the kinds that call the organisation's people (their main phone).
    private static func people(path: String, where condition: String, trackReached: Bool) -> String {
        // "Reached": a call to them on any earlier list connected; those not yet reached are
        // chosen first when a committee has more people than its quota.
        let reached = trackReached ? """
            EXISTS (SELECT 1 FROM list_entries e JOIN attempts t ON t.entry_id = e.id
                    WHERE e.person_id = p.id AND t.result = 'connected')
            """ : "false"
        return """
            selected AS (
                SELECT NULL::bigint AS contact_id, p.id AS person_id, p.id AS who, p.phone_hash, p.phone_sealed, p.phone_tail, p.phone_kind,
                       p.unit_id, NULL::text AS language, 0 AS priority, \(reached) AS reached
                FROM people p JOIN org_units u ON u.id = p.unit_id
                WHERE u.path <@ \(path) AND \(condition)
            )
            """
    }

    // MARK: 2. Households, committee quotas and assignment

    /// The units of the audience (with their ancestors), and, for a campaign with material, the
    /// highest valid version scoped to each unit or above: shared by the placement and the
    /// report (which counts those outside the material's scope).
    private static func unitsAndMaterial(_ campaign: Campaign, _ b: Binds) -> String {
        var sql = """
            units AS MATERIALIZED (
                SELECT u.id AS unit_id, u.code, string_to_array(u.path::text, '.')::bigint[] AS ancestors
                FROM org_units u WHERE u.id IN (SELECT DISTINCT unit_id FROM list_audience)
            )
            """
        if let material = campaign.material {
            let code = b(material, "text")
            sql += """
                ,
                material AS (
                    SELECT un.unit_id, max(m.version) AS version
                    FROM units un CROSS JOIN LATERAL unnest(un.ancestors) AS anc(id)
                    JOIN material_scopes s ON s.unit_id = anc.id AND s.code = \(code)
                    JOIN materials m ON m.code = s.code AND m.version = s.version
                    WHERE (m.valid_from IS NULL OR m.valid_from <= now()) AND (m.valid_to IS NULL OR m.valid_to > now())
                    GROUP BY un.unit_id
                )
                """
        }
        return sql
    }

    /// Those not kept off by a rule on the number (and, with material, within its scope).
    private static func callable(_ campaign: Campaign) -> String {
        campaign.material == nil ? """
            callable AS (
                SELECT a.*, NULL::int AS material_version FROM list_audience a WHERE a.reason IS NULL
            )
            """ : """
            callable AS (
                SELECT a.*, m.version AS material_version FROM list_audience a JOIN material m ON m.unit_id = a.unit_id
                WHERE a.reason IS NULL
            )
            """
    }

    private static func placementStatement(_ spec: ListSpec, campaign: Campaign) -> Statement {
        let b = Binds()
        // Household cap: the first K (by priority, then id) of those sharing a phone. The set
        // of centres (below) is joined here, once per entry.
        let withSet = "callable c LEFT JOIN unit_sets us ON us.unit_id = c.unit_id AND us.language = c.language"
        let household = campaign.householdCap == 1 ? """
            kept AS (
                SELECT DISTINCT ON (c.phone_hash) c.*, us.set_id FROM \(withSet)
                ORDER BY c.phone_hash, c.priority, c.who
            )
            """ : """
            kept AS (
                SELECT * FROM (
                    SELECT c.*, us.set_id, row_number() OVER (PARTITION BY c.phone_hash ORDER BY c.priority, c.who) AS nth FROM \(withSet)
                ) x WHERE nth <= \(b(campaign.householdCap, "int"))
            )
            """
        // committee_reach with per_committee: those beyond the quota of their committee (the
        // not yet reached first) stay in list_placed, marked, with no centre.
        let quota: String
        if spec.kind == .committeeReach, let per = spec.perCommittee {
            quota = """
                chosen AS (
                    SELECT k.*, row_number() OVER (PARTITION BY k.unit_id ORDER BY k.reached, k.who) > \(b(per, "int")) AS over_quota
                    FROM kept k
                )
                """
        } else {
            quota = "chosen AS (SELECT k.*, false AS over_quota FROM kept k)"
        }
        let sql = """
            /* sampark list build: \(spec.kind.rawValue) placement */
            CREATE TEMPORARY TABLE list_placed ON COMMIT DROP AS
            WITH \(unitsAndMaterial(campaign, b)),
            \(callable(campaign)),
            unit_languages AS MATERIALIZED (
                SELECT unit_id, language FROM callable GROUP BY 1, 2
            ),
            -- Assignment: the centres whose regions hold the entry's unit; of those, the ones
            -- speaking the contact's language if any do; entries spread over them by seats.
            cover AS (
                SELECT DISTINCT un.unit_id, r.centre_id
                FROM units un CROSS JOIN LATERAL unnest(un.ancestors) AS anc(id)
                JOIN call_centre_regions r ON r.unit_id = anc.id
            ),
            offers AS (
                SELECT ul.unit_id, ul.language, cc.id AS centre_id, ul.language = ANY(cc.languages) AS speaks
                FROM unit_languages ul
                JOIN cover cv ON cv.unit_id = ul.unit_id JOIN call_centres cc ON cc.id = cv.centre_id
            ),
            sets AS (
                SELECT unit_id, language, array_agg(centre_id ORDER BY centre_id) AS centre_set
                FROM (SELECT o.*, bool_or(speaks) OVER (PARTITION BY unit_id, language) AS someone_speaks FROM offers o) x
                WHERE speaks OR NOT someone_speaks
                GROUP BY unit_id, language
            ),
            -- Entries with the same set of centres go round them in a cycle of as many slots
            -- as they have seats, each centre's slots spread evenly over the cycle (seat k of a
            -- centre with s seats sits at (k + 0.5) / s): a centre with three times the seats
            -- gets three calls in every four, interleaved, however short the list. A cycle is
            -- an array of centre ids, so placing an entry is a subscript, not a join.
            cycles AS (
                SELECT cs.centre_set, row_number() OVER (ORDER BY cs.centre_set) AS set_id,
                       (SELECT array_agg(cc.id ORDER BY (k + 0.5) / cc.seats, cc.id)
                        FROM unnest(cs.centre_set) AS x(centre_id) JOIN call_centres cc ON cc.id = x.centre_id
                        CROSS JOIN LATERAL generate_series(0, cc.seats - 1) AS k) AS cycle
                FROM (SELECT DISTINCT centre_set FROM sets) cs
            ),
            unit_sets AS (
                SELECT s.unit_id, s.language, c.set_id FROM sets s JOIN cycles c ON c.centre_set = s.centre_set
            ),
            \(household),
            \(quota),
            numbered AS (
                SELECT c.*, row_number() OVER (PARTITION BY c.set_id, c.over_quota ORDER BY c.priority, c.who) - 1 AS seq
                FROM chosen c
            )
            SELECT n.contact_id, n.person_id, n.who, n.phone_hash, n.phone_sealed, n.phone_tail, n.unit_id, n.priority, n.material_version, n.over_quota,
                   CASE WHEN NOT n.over_quota THEN cy.cycle[1 + n.seq % cardinality(cy.cycle)] END AS centre_id
            FROM numbered n LEFT JOIN cycles cy ON cy.set_id = n.set_id
            """
        return Statement(sql: sql, binds: b.values)
    }

    // MARK: 4. The answer's figures

    private static func reportStatement(_ spec: ListSpec, campaign: Campaign, scope: Scope) -> Statement {
        let b = Binds()
        // Those within the material's scope: counted again (the placement keeps only the
        // households' first), so the rules' counts add up to the audience.
        let material = campaign.material == nil ? "" : """
            ,
            \(unitsAndMaterial(campaign, b)),
            \(callable(campaign))
            """
        let outsideScope = campaign.material == nil ? "" : """
            UNION ALL SELECT 'outside_material_scope', (SELECT count(*) FROM list_audience WHERE reason IS NULL) - (SELECT count(*) FROM callable)
            """
        let callableCount = campaign.material == nil ? "(SELECT count(*) FROM list_audience WHERE reason IS NULL)"
                                                     : "(SELECT count(*) FROM callable)"
        var short = "NULL::text AS short, NULL::bigint AS short_total"
        var committees = ""
        if spec.kind == .committeeReach, let per = spec.perCommittee {
            let k = b(per, "int")
            committees = """
                ,
                committees AS MATERIALIZED (
                    SELECT u.code, count(p.who) FILTER (WHERE NOT p.over_quota) AS n
                    FROM org_units u LEFT JOIN list_placed p ON p.unit_id = u.id
                    WHERE u.path <@ \(b(scope.path, "ltree")) AND u.level = ANY(\(b(spec.levels, "text[]")))
                    GROUP BY u.code
                )
                """
            short = """
                (SELECT coalesce(json_agg(json_build_array(code, n) ORDER BY n, code), '[]') FROM (
                     SELECT code, n FROM committees WHERE n < \(k) ORDER BY n, code LIMIT 100) s) AS short,
                (SELECT count(*) FROM committees WHERE n < \(k)) AS short_total
                """
        }
        let sql = """
            /* sampark list build: \(spec.kind.rawValue) report */
            WITH
            -- Per centre (NULL: none covers): the entries, and the XOR of one 64-bit hash per
            -- entry (who, centre, priority, material version), which makes the list's hash
            -- stable and independent of order.
            by_centre AS MATERIALIZED (
                SELECT centre_id, count(*) AS n,
                       bit_xor(hashint8extended(who, (coalesce(centre_id, 0) * 1000003 + priority) * 1000003 + coalesce(material_version, 0))) AS h
                FROM list_placed WHERE NOT over_quota GROUP BY centre_id
            )\(material)\(committees)
            SELECT
                (SELECT count(*) FROM list_audience) AS audience,
                (SELECT coalesce(sum(n), 0)::bigint FROM by_centre WHERE centre_id IS NOT NULL) AS entries,
                (SELECT coalesce(json_agg(json_build_array(reason, n)), '[]') FROM (
                    SELECT reason, count(*) AS n FROM list_audience WHERE reason IS NOT NULL GROUP BY reason
                    \(outsideScope)
                    UNION ALL SELECT 'household_cap', \(callableCount) - (SELECT count(*) FROM list_placed)
                    UNION ALL SELECT 'over_committee_quota', count(*) FROM list_placed WHERE over_quota
                    UNION ALL SELECT 'no_centre', coalesce(sum(n), 0)::bigint FROM by_centre WHERE centre_id IS NULL
                ) s WHERE n > 0) AS suppressed,
                (SELECT coalesce(json_agg(json_build_array(cc.code, b.n) ORDER BY cc.code), '[]')
                 FROM by_centre b JOIN call_centres cc ON cc.id = b.centre_id) AS centres,
                (SELECT coalesce(json_agg(json_build_array(code, n) ORDER BY n DESC, code), '[]') FROM (
                    SELECT u.code, count(*) AS n FROM list_placed p JOIN org_units u ON u.id = p.unit_id
                    WHERE p.centre_id IS NULL AND NOT p.over_quota GROUP BY u.code ORDER BY n DESC, u.code LIMIT 100) s) AS uncovered,
                \(short),
                (SELECT lpad(to_hex(coalesce(bit_xor(h), 0)), 16, '0') FROM by_centre WHERE centre_id IS NOT NULL) AS hash
            """
        return Statement(sql: sql, binds: b.values)
    }
}

/// Numbers the binds of a statement as its fragments are written: `b(value, "text[]")` adds
/// the value and returns `$n::text[]`, so fragments compose without counting by hand.
final class Binds {
    private(set) var values: [any PostgresEncodable] = []

    func callAsFunction(_ value: any PostgresEncodable, _ type: String) -> String {
        values.append(value)
        return "$\(values.count)::\(type)"
    }
}
