import SamparkCore
import SamparkPostgres

/// The one statement that builds a list: a kind's audience, then the rules every list shares
/// (docs/lists.md), ending in the INSERT of the entries and one row of counts for the report.
/// Everything is set-based: PostgreSQL sees the whole list at once and no row passes through
/// Swift.
///
/// Parameters every kind shares: $1 the list, $2 the campaign, $3 the scope's path, $4 the
/// recall window in days, $5 the household cap, $6 the material's code (or NULL). A kind's
/// own parameters follow from $7.
struct ListQuery {
    let sql: String
    let binds: [any PostgresEncodable]

    /// The reasons an entry is left out, in the order the rules apply (docs/lists.md); the
    /// answer lists them so.
    static let reasons = ["landline", "opted_out", "wrong_number", "recently_called", "on_active_list", "outside_material_scope",
                          "household_cap", "over_committee_quota", "no_centre"]

    static func build(_ spec: ListSpec, listID: Int64, campaign: Campaign, scope: Scope) -> ListQuery {
        var binds: [any PostgresEncodable] = [listID, campaign.id, scope.path, campaign.recallDays, campaign.householdCap,
                                               campaign.material]
        let audience: String
        switch spec.kind {
        case .committeeReach, .relay:
            binds += [spec.levels, spec.roles]
            audience = people(where: "u.level = ANY($7::text[]) AND ($8::text[] IS NULL OR p.role = ANY($8::text[]))",
                              trackReached: spec.kind == .committeeReach && spec.perCommittee != nil)
        case .candidates:
            binds += [spec.roles ?? ["candidate"], scope.unitIDs]
            audience = people(where: "p.role = ANY($7::text[]) AND (cardinality($8::bigint[]) = 0 OR p.unit_id = ANY($8::bigint[]))",
                              trackReached: false)
        case .schemeFeedback:
            binds += [spec.schemes]
            audience = """
                selected AS (
                    SELECT c.id AS contact_id, NULL::bigint AS person_id, c.id AS who, c.phone, c.phone_kind,
                           c.booth_id AS unit_id, c.language, 0 AS priority, false AS reached
                    FROM contacts c JOIN org_units b ON b.id = c.booth_id
                    WHERE b.path <@ $3::ltree AND c.schemes && $7::text[]
                )
                """
        case .weakBooth:
            binds += [spec.election, spec.party, spec.shareBelow]
            // A booth is weak where the party's share of the votes is under the threshold or
            // it lost (its votes under the best rival's); the weakest is worked first.
            audience = """
                results AS (
                    SELECT r.booth_id,
                           coalesce(sum(r.votes) FILTER (WHERE r.party = $8::text), 0) AS ours,
                           coalesce(max(r.votes) FILTER (WHERE r.party <> $8::text), 0) AS best_rival,
                           sum(r.votes) AS polled
                    FROM booth_results r JOIN org_units b ON b.id = r.booth_id
                    WHERE r.election = $7::text AND b.path <@ $3::ltree
                    GROUP BY r.booth_id
                ), weak AS (
                    SELECT booth_id, row_number() OVER (ORDER BY ours::float8 / polled, ours - best_rival, booth_id)::int AS priority
                    FROM results
                    WHERE polled > 0 AND (ours < best_rival OR ours::float8 / polled < $9::float8)
                ), selected AS (
                    SELECT c.id AS contact_id, NULL::bigint AS person_id, c.id AS who, c.phone, c.phone_kind,
                           c.booth_id AS unit_id, c.language, w.priority, false AS reached
                    FROM contacts c JOIN weak w ON w.booth_id = c.booth_id
                )
                """
        case .getOutTheVote:
            binds += [spec.pollDate, spec.election]
            // Voters in the constituencies polling that day, not yet marked as voted; the
            // booths whose turnout lags most are called first.
            audience = """
                polling AS (
                    SELECT u.path FROM poll_calendar pc JOIN org_units u ON u.id = pc.constituency_id
                    WHERE pc.poll_date = $7::date AND ($8::text IS NULL OR pc.election = $8::text)
                ), booths AS (
                    SELECT DISTINCT b.id FROM org_units b JOIN polling p ON b.path <@ p.path WHERE b.path <@ $3::ltree
                ), voters AS MATERIALIZED (
                    SELECT c.id, c.phone, c.phone_kind, c.booth_id, c.language, t.contact_id IS NOT NULL AS voted
                    FROM contacts c JOIN booths b ON b.id = c.booth_id LEFT JOIN turnout_marks t ON t.contact_id = c.id
                ), lagging AS (
                    SELECT booth_id, row_number() OVER (ORDER BY avg(voted::int), booth_id)::int AS priority
                    FROM voters GROUP BY booth_id
                ), selected AS (
                    SELECT v.id AS contact_id, NULL::bigint AS person_id, v.id AS who, v.phone, v.phone_kind,
                           v.booth_id AS unit_id, v.language, l.priority, false AS reached
                    FROM voters v JOIN lagging l USING (booth_id)
                    WHERE NOT v.voted
                )
                """
        }

        // committee_reach with per_committee: the people beyond the quota of their committee,
        // and the committees (units at the levels) that fall short of it.
        var quota = "", chosenFrom = "ranked WHERE nth <= $5", overQuota = "", short = "NULL::text AS short, NULL::bigint AS short_total"
        if spec.kind == .committeeReach, let per = spec.perCommittee {
            binds.append(per)
            let k = "$\(binds.count)::int"
            quota = """
                , quota AS MATERIALIZED (
                    SELECT r.*, row_number() OVER (PARTITION BY unit_id ORDER BY reached, who) AS in_unit
                    FROM ranked r WHERE nth <= $5
                )
                """
            chosenFrom = "quota WHERE in_unit <= \(k)"
            overQuota = "UNION ALL SELECT 'over_committee_quota', count(*) FROM quota WHERE in_unit > \(k)"
            short = """
                (SELECT coalesce(json_agg(json_build_array(code, n) ORDER BY n, code), '[]') FROM (
                     SELECT code, n FROM committees WHERE n < \(k) ORDER BY n, code LIMIT 100) s) AS short,
                (SELECT count(*) FROM committees WHERE n < \(k)) AS short_total
                """
            quota += """
                , committees AS MATERIALIZED (
                    SELECT u.code, count(q.who) FILTER (WHERE q.in_unit <= \(k)) AS n
                    FROM org_units u LEFT JOIN quota q ON q.unit_id = u.id
                    WHERE u.path <@ $3::ltree AND u.level = ANY($7::text[])
                    GROUP BY u.code
                )
                """
        }

        // With a cap of 1 (the default) the member kept is found by a hash aggregate, not a
        // sort: the lowest (priority, id) per phone, packed into one bigint (ids stay far below
        // 2^40, priorities below 2^23). A larger cap numbers each phone's members in order.
        let household = campaign.householdCap == 1 ? """
                ranked AS MATERIALIZED (
                    SELECT c.*, CASE WHEN k.first = (c.priority::bigint << 40) | c.who THEN 1 ELSE 2 END AS nth
                    FROM callable c
                    JOIN (SELECT phone, min((priority::bigint << 40) | who) AS first FROM callable GROUP BY phone) k ON k.phone = c.phone
                )
            """ : """
                ranked AS MATERIALIZED (
                    SELECT c.*, row_number() OVER (PARTITION BY c.phone ORDER BY c.priority, c.who) AS nth
                    FROM callable c
                )
            """
        // The leading comment names the statement in pg_stat_activity (which keeps only the
        // first 1 kB of a query's text).
        let sql = """
            /* sampark list build: \(spec.kind.rawValue) */
            WITH \(audience),
            -- Each one the spec chose, with the first rule (in this order) that keeps it off.
            -- The rules' numbers are joined, not looked up in subqueries: a hash join spills to
            -- disk gracefully where a subquery too big to hash would be scanned per row.
            wrong_numbers AS (
                SELECT DISTINCT e.phone FROM attempts t JOIN list_entries e ON e.id = t.entry_id WHERE t.result = 'wrong_number'
            ),
            recently_called AS (
                SELECT DISTINCT e.phone FROM attempts t JOIN list_entries e ON e.id = t.entry_id
                WHERE $4::int > 0 AND t.started_at > now() - make_interval(days => $4::int)
            ),
            on_active_list AS (
                SELECT DISTINCT e.phone FROM call_lists l JOIN list_entries e ON e.list_id = l.id
                WHERE l.campaign_id = $2::bigint AND e.state IN ('pending', 'offered')
            ),
            audience AS MATERIALIZED (
                SELECT s.*,
                    CASE
                        WHEN s.phone_kind <> 'mobile' THEN 'landline'
                        WHEN o.phone IS NOT NULL THEN 'opted_out'
                        WHEN w.phone IS NOT NULL THEN 'wrong_number'
                        WHEN r.phone IS NOT NULL THEN 'recently_called'
                        WHEN l.phone IS NOT NULL THEN 'on_active_list'
                    END AS reason
                FROM selected s
                LEFT JOIN opt_outs o ON o.phone = s.phone
                LEFT JOIN wrong_numbers w ON w.phone = s.phone
                LEFT JOIN recently_called r ON r.phone = s.phone
                LEFT JOIN on_active_list l ON l.phone = s.phone
            ),
            -- The units and languages of the audience: assignment is worked out once per pair.
            unit_languages AS MATERIALIZED (
                SELECT unit_id, coalesce(language, '') AS language FROM audience GROUP BY 1, 2
            ),
            units AS MATERIALIZED (
                SELECT u.id AS unit_id, u.code, string_to_array(u.path::text, '.')::bigint[] AS ancestors
                FROM org_units u WHERE u.id IN (SELECT unit_id FROM unit_languages)
            ),
            -- The material an entry relays: the highest valid version scoped to its unit or above.
            material AS (
                SELECT un.unit_id, max(m.version) AS version
                FROM units un CROSS JOIN LATERAL unnest(un.ancestors) AS anc(id)
                JOIN material_scopes s ON s.unit_id = anc.id AND s.code = $6::text
                JOIN materials m ON m.code = s.code AND m.version = s.version
                WHERE (m.valid_from IS NULL OR m.valid_from <= now()) AND (m.valid_to IS NULL OR m.valid_to > now())
                GROUP BY un.unit_id
            ),
            -- Not kept off by a rule on the number, and with the material to relay if any.
            callable AS MATERIALIZED (
                SELECT a.contact_id, a.person_id, a.who, a.phone, a.unit_id, a.language, a.priority, a.reached, m.version AS material_version
                FROM audience a LEFT JOIN material m ON m.unit_id = a.unit_id
                WHERE a.reason IS NULL AND ($6::text IS NULL OR m.version IS NOT NULL)
            ),
            -- Household cap: the first K (by priority, then id) of those sharing a phone.
            \(household)\(quota),
            chosen AS (
                SELECT contact_id, person_id, who, phone, unit_id, coalesce(language, '') AS language, priority, material_version
                FROM \(chosenFrom)
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
            numbered AS (
                SELECT c.contact_id, c.person_id, c.who, c.phone, c.unit_id, c.priority, c.material_version, u.set_id,
                       row_number() OVER (PARTITION BY u.set_id ORDER BY c.priority, c.who) - 1 AS seq
                FROM chosen c LEFT JOIN unit_sets u ON u.unit_id = c.unit_id AND u.language = c.language
            ),
            placed AS MATERIALIZED (
                SELECT n.contact_id, n.person_id, n.who, n.phone, n.unit_id, n.priority, n.material_version,
                       cy.cycle[1 + n.seq % cardinality(cy.cycle)] AS centre_id
                FROM numbered n LEFT JOIN cycles cy ON cy.set_id = n.set_id
            ),
            -- Run to completion whether or not the query below reads it (PostgreSQL's rule for
            -- data-modifying WITH); the counts come from `placed`, in one pass.
            inserted AS (
                INSERT INTO list_entries (list_id, contact_id, person_id, phone, centre_id, priority, material_code, material_version)
                SELECT $1::bigint, contact_id, person_id, phone, centre_id, priority,
                       CASE WHEN material_version IS NOT NULL THEN $6::text END, material_version
                FROM placed WHERE centre_id IS NOT NULL
                -- In contact (or person) id order: each row's foreign-key check then reads the
                -- contacts table in one sweep, not once per set of centres.
                ORDER BY who
            ),
            -- Per centre (NULL: none covers): the entries, and the XOR of one 64-bit hash per
            -- entry (who, centre, priority, material version), which makes the list's hash
            -- stable and independent of order.
            by_centre AS MATERIALIZED (
                SELECT centre_id, count(*) AS n,
                       bit_xor(hashint8extended(who, (coalesce(centre_id, 0) * 1000003 + priority) * 1000003 + coalesce(material_version, 0))) AS h
                FROM placed GROUP BY centre_id
            )
            SELECT
                (SELECT count(*) FROM audience) AS audience,
                (SELECT coalesce(sum(n), 0)::bigint FROM by_centre WHERE centre_id IS NOT NULL) AS entries,
                (SELECT coalesce(json_agg(json_build_array(reason, n)), '[]') FROM (
                    SELECT reason, count(*) AS n FROM audience WHERE reason IS NOT NULL GROUP BY reason
                    UNION ALL SELECT 'outside_material_scope', (SELECT count(*) FROM audience WHERE reason IS NULL) - (SELECT count(*) FROM callable)
                    UNION ALL SELECT 'household_cap', count(*) FROM ranked WHERE nth > $5
                    \(overQuota)
                    UNION ALL SELECT 'no_centre', coalesce(sum(n), 0)::bigint FROM by_centre WHERE centre_id IS NULL
                ) s WHERE n > 0) AS suppressed,
                (SELECT coalesce(json_agg(json_build_array(cc.code, b.n) ORDER BY cc.code), '[]')
                 FROM by_centre b JOIN call_centres cc ON cc.id = b.centre_id) AS centres,
                (SELECT coalesce(json_agg(json_build_array(code, n) ORDER BY n DESC, code), '[]') FROM (
                    SELECT u.code, count(*) AS n FROM placed p JOIN units u ON u.unit_id = p.unit_id
                    WHERE p.centre_id IS NULL GROUP BY u.code ORDER BY n DESC, u.code LIMIT 100) s) AS uncovered,
                \(short),
                (SELECT lpad(to_hex(coalesce(bit_xor(h), 0)), 16, '0') FROM by_centre WHERE centre_id IS NOT NULL) AS hash
            """
        return ListQuery(sql: sql, binds: binds)
    }

    /// The audience of the kinds that call the organisation's people (their main phone).
    private static func people(where condition: String, trackReached: Bool) -> String {
        // "Reached": a call to them on any earlier list connected; those not yet reached are
        // chosen first when a committee has more people than its quota.
        let reached = trackReached ? """
            EXISTS (SELECT 1 FROM list_entries e JOIN attempts t ON t.entry_id = e.id
                    WHERE e.person_id = p.id AND t.result = 'connected')
            """ : "false"
        return """
            selected AS (
                SELECT NULL::bigint AS contact_id, p.id AS person_id, p.id AS who, p.phone, p.phone_kind,
                       p.unit_id, NULL::text AS language, 0 AS priority, \(reached) AS reached
                FROM people p JOIN org_units u ON u.id = p.unit_id
                WHERE u.path <@ $3::ltree AND \(condition)
            )
            """
    }
}
