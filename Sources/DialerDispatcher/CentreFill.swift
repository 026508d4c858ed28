import Foundation
import SamparkCore
import SamparkPostgres
import SamparkRuntime

/// Tops up one centre's live offers to what its agents can take, lawfully, in the caller's
/// transaction (docs/dispatch.md):
///
/// 1. lock the centre's row, so that two dispatchers (or a dispatcher and an outcome) never
///    fill one centre at once and over-offer it;
/// 2. its room: the agents available (at most its seats) less the live offers, each weighing
///    1 / its campaign's pacing ratio;
/// 3. its lists with due entries, most urgent campaign kind first: a campaign outside its
///    calling hours is skipped; from the others, due entries are claimed in priority order
///    with `FOR UPDATE SKIP LOCKED` and each is judged at this moment: an opted-out number, a
///    voter already marked as voted, a constituency in its silence period, a polling-day call
///    outside its poll day, or an entry out of attempts is refused (counted by reason), the
///    rest are offered: an `offers` row (the attempt id) and a `call.offer.v2` in the outbox,
///    built in SQL in the same statement. An agent's desk sees the number masked (its last four
///    digits, stored beside the sealed number); a telephony gateway's offer carries it whole:
///    its outbox row holds the number sealed, as the entry does, and the relay opens it and
///    puts it in the body only as it publishes (`outbox.phone_sealed`).
struct CentreFill {
    let settings: DispatchSettings
    let appID: String
    /// Which centres' offer queues exist (nil: assume they all do, as tests and benches declare them).
    let offerQueues: OfferQueues?

    struct Result: Sendable, Equatable {
        /// The centre's code, for metrics (nil: its row was locked by another fill, or it is gone).
        var centre: String?
        var offered = 0
        /// The agents' share the offers made take (each offer 1 / its campaign's pacing ratio).
        var weight = 0.0
        var refused: [String: Int] = [:]
    }

    /// Claims with a blocking lock when `wait` (an outcome or a presence change must see its
    /// own centre filled), else skips a centre another transaction holds.
    func fill(centreID: Int64, now: Date, wait: Bool, on connection: PostgresConnection) throws -> Result {
        var result = Result()
        guard let centre = try connection.query("""
            SELECT c.code, c.seats, to_char(c.calls_from, 'HH24:MI'), to_char(c.calls_to, 'HH24:MI'), c.shifts,
                   (SELECT count(*) FROM agents a WHERE a.centre_id = c.id AND a.state = 'available'),
                   (SELECT coalesce(sum(o.weight), 0)::float8 FROM offers o WHERE o.centre_id = c.id AND o.state = 'live')
            FROM call_centres c WHERE c.id = $1
            """ + (wait ? " FOR NO KEY UPDATE OF c" : " FOR NO KEY UPDATE OF c SKIP LOCKED"), [centreID], prepared: true).first else {
            return result
        }
        let code = try centre.decode(String.self, at: 0)
        result.centre = code
        // No offer is published before its queue exists (it would be unroutable): the loop
        // fills the centre once the queue is declared.
        if let offerQueues, !offerQueues.isDeclared(code) {
            offerQueues.requestRefresh()
            return result
        }
        let seats = try centre.decode(Int.self, at: 1)
        let agents = try centre.decode(Int.self, at: 5)
        let used = try centre.decode(Double.self, at: 6)
        var room = Double(min(agents, seats)) - used
        // Offers weigh 1/ratio; a float sum of thirds must not leave a whole agent unused.
        let epsilon = 1e-6
        guard room > epsilon else { return result }

        // The centre's own hours (the schema keeps calls_from before calls_to).
        let centreHours = DailyWindow("\(try centre.decode(String.self, at: 2))-\(try centre.decode(String.self, at: 3))")
        let shifts = try centre.decode([String].self, at: 4).compactMap(DailyWindow.init)
        let time = ISTTime(now)

        for list in try DueList.of(centreID: centreID, on: connection) {
            guard settings.hours.allows(list.kind, at: time, campaignWindow: list.window,
                                        centreHours: centreHours, centreShifts: shifts) else {
                try countClosedWindow(list, centreID: centreID, now: now, on: connection, into: &result)
                continue
            }
            let weight = 1 / list.pacingRatio
            // No offer outlives the window it was made in: a desk may not start its call after
            // the window shuts.
            let windowLeft = settings.hours.secondsLeft(list.kind, at: time, campaignWindow: list.window,
                                                        centreHours: centreHours, centreShifts: shifts)
            let expires = now.addingTimeInterval(min(settings.offerLifetime, windowLeft.map(Double.init) ?? .infinity))
            // The first claim takes as many as there is room for (the outcome path: one agent
            // free, one entry judged). Once a claim has refused some, the entries ahead are
            // likely refused too (a poll just closed, a constituency's silence began): judge a
            // whole batch at a time and offer at most the room, so that tens of thousands of
            // refusals take tens of statements, not thousands. A fill judges a bounded number
            // of entries per list, so it never holds the centre's lock for long; the round goes
            // on with the rest.
            var judging = false, claims = 0
            while room + epsilon >= weight && claims < Self.claimsPerList {
                let fits = Int(((room + epsilon) / weight).rounded(.down))
                let wanted = judging ? settings.claimBatch : min(settings.claimBatch, fits)
                let claim = try claim(list, centreID: centreID, centreCode: code, limit: wanted, offerAtMost: fits, weight: weight,
                                      now: now, expires: expires, on: connection)
                claims += 1
                result.offered += claim.offered
                for (reason, count) in claim.refused { result.refused[reason, default: 0] += count }
                room -= Double(claim.offered) * weight
                result.weight += Double(claim.offered) * weight
                // Fewer candidates than asked for: the list has nothing more due here.
                if claim.candidates < wanted { break }
                if !claim.refused.isEmpty { judging = true }
            }
            if room <= epsilon { break }
        }
        return result
    }

    /// The calls due when a campaign's window shut (on all its lists) are counted once per
    /// day, centre and campaign as refused for `calling_hours`; the entries wait, untouched,
    /// for the window.
    private func countClosedWindow(_ list: DueList, centreID: Int64, now: Date, on connection: PostgresConnection,
                                   into result: inout Result) throws {
        let counted = try connection.query("""
            INSERT INTO dispatch_refusals (day, centre_id, campaign_id, reason, calls)
            SELECT ($2::timestamptz AT TIME ZONE 'Asia/Kolkata')::date, $1, $3, 'calling_hours', count(*)
            FROM list_entries e
            WHERE e.centre_id = $1 AND e.list_id IN (SELECT id FROM call_lists WHERE campaign_id = $3) AND e.state = 'pending'
              -- Counted already today: a one-time check, so the entries are not counted again
              -- on every round while the window stays shut.
              AND NOT EXISTS (SELECT 1 FROM dispatch_refusals d WHERE d.day = ($2::timestamptz AT TIME ZONE 'Asia/Kolkata')::date
                              AND d.centre_id = $1 AND d.campaign_id = $3 AND d.reason = 'calling_hours')
            ON CONFLICT (day, centre_id, campaign_id, reason) DO NOTHING
            RETURNING calls
            """, [centreID, now, list.campaignID], prepared: true)
        if let calls = try counted.first?.decode(Int.self, at: 0), calls > 0 {
            result.refused["calling_hours", default: 0] += calls
        }
    }

    private struct Claim {
        var candidates = 0
        var offered = 0
        var refused: [String: Int] = [:]
    }

    /// The most claim statements one fill runs per list (at most this many batches judged).
    static let claimsPerList = 20

    /// One statement: claim up to `limit` due entries, judge each, refuse it or offer it (at
    /// most `offerAtMost` of those lawful, in priority order; the others stay pending).
    private func claim(_ list: DueList, centreID: Int64, centreCode: String, limit: Int, offerAtMost: Int, weight: Double, now: Date,
                       expires: Date, on connection: PostgresConnection) throws -> Claim {
        let binds: [any PostgresEncodable] = [
            centreID, list.listID, limit, now, list.maxAttempts, list.kind == .getOutTheVote,
            list.kind.callsVoters && list.kind != .getOutTheVote, list.pollDate, weight, expires, settings.longestCall,
            Topology.offerQueue(centre: centreCode, dialing: list.dialing), appID, centreCode, list.campaignCode, list.kind.rawValue,
            list.dialing, list.campaignID, list.material, settings.silenceHours, offerAtMost,
        ]
        let row = try connection.query(Self.claimSQL, binds, prepared: true)[0]
        var claim = Claim(candidates: try row.decode(Int.self, at: 0), offered: try row.decode(Int.self, at: 1))
        let reasons = try row.decode([String].self, at: 2), counts = try row.decode([Int].self, at: 3)
        for (reason, count) in zip(reasons, counts) { claim.refused[reason] = count }
        return claim
    }

    /// $1 centre, $2 list, $3 how many, $4 now, $5 max attempts, $6 polling-day campaign,
    /// $7 silence period applies (voter campaigns but turnout checks), $8 the list's poll day,
    /// $9 the offer's weight, $10 expires (within the calling window), $11 the longest call in
    /// seconds (an unanswered offer is reclaimed that long after it expires), $12 routing key, $13 app id,
    /// $14 centre code, $15 campaign code, $16 kind, $17 dialing, $18 campaign, $19 the
    /// campaign's material, $20 the silence period in hours, $21 the most to offer.
    ///
    /// Gates whose reason is final (opted out, voted, out of attempts, poll over) end the
    /// entry; gates that open later (silence period, before the poll day) make it wait until
    /// they open. Every refusal changes the entry, so each is counted once. An offer expires
    /// before its constituency's silence period begins, and a polling-day offer at the poll's
    /// close: what was lawful when offered stays lawful when called.
    static let claimSQL = """
        /* sampark dispatch: claim */
        WITH candidate AS (
            SELECT e.id, e.priority, e.phone_hash, e.phone_sealed, e.phone_tail, e.contact_id, e.person_id, e.attempts, e.material_code, e.material_version
            FROM list_entries e
            WHERE e.centre_id = $1 AND e.list_id = $2 AND e.state = 'pending'
            ORDER BY e.priority, e.id
            LIMIT $3
            FOR NO KEY UPDATE SKIP LOCKED
        ),
        located AS (
            SELECT c.*, coalesce(v.name, p.name) AS name, v.language,
                   string_to_array(u.path::text, '.')::bigint[] AS ancestors
            FROM candidate c
            LEFT JOIN contacts v ON v.id = c.contact_id
            LEFT JOIN people p ON p.id = c.person_id
            JOIN org_units u ON u.id = coalesce(v.booth_id, p.unit_id)
        ),
        judged AS (
            SELECT l.*, g.reason, g.until, x.expires
            FROM located l
            LEFT JOIN LATERAL (
                SELECT pc.poll_closes_at FROM poll_calendar pc
                WHERE $6 AND pc.constituency_id = ANY(l.ancestors) AND pc.poll_date = $8::date
                ORDER BY pc.poll_closes_at LIMIT 1
            ) poll ON true
            LEFT JOIN LATERAL (
                SELECT max(pc.poll_closes_at) AS ends FROM poll_calendar pc
                WHERE $7 AND pc.constituency_id = ANY(l.ancestors)
                  AND $4::timestamptz >= pc.poll_closes_at - make_interval(hours => $20::int) AND $4::timestamptz < pc.poll_closes_at
            ) silence ON true
            CROSS JOIN LATERAL (
                SELECT CASE
                    WHEN EXISTS (SELECT 1 FROM opt_outs o WHERE o.phone_hash = l.phone_hash) THEN 'opted_out'
                    WHEN l.attempts >= $5 THEN 'max_attempts'
                    WHEN $6 AND EXISTS (SELECT 1 FROM turnout_marks t WHERE t.contact_id = l.contact_id) THEN 'voted'
                    WHEN $6 AND poll.poll_closes_at IS NULL THEN 'not_poll_day'
                    WHEN $6 AND ($4::timestamptz AT TIME ZONE 'Asia/Kolkata')::date < $8::date THEN 'before_poll_day'
                    WHEN $6 AND $4::timestamptz >= poll.poll_closes_at THEN 'poll_closed'
                    WHEN silence.ends IS NOT NULL THEN 'silence_period'
                END AS reason,
                CASE
                    WHEN $6 AND ($4::timestamptz AT TIME ZONE 'Asia/Kolkata')::date < $8::date
                        THEN $8::date::timestamp AT TIME ZONE 'Asia/Kolkata'
                    ELSE silence.ends
                END AS until
            ) g
            CROSS JOIN LATERAL (
                SELECT least($10::timestamptz, CASE WHEN $6 THEN poll.poll_closes_at END,
                             (SELECT min(pc.poll_closes_at - make_interval(hours => $20::int)) FROM poll_calendar pc
                              WHERE $7 AND pc.constituency_id = ANY(l.ancestors)
                                AND pc.poll_closes_at - make_interval(hours => $20::int) > $4::timestamptz)) AS expires
            ) x
        ),
        refused AS (
            UPDATE list_entries e
            SET state = CASE WHEN j.reason IN ('silence_period', 'before_poll_day') THEN 'waiting'
                             WHEN j.reason = 'max_attempts' THEN 'exhausted' ELSE 'suppressed' END,
                last_result = j.reason,
                next_attempt_at = CASE WHEN j.reason IN ('silence_period', 'before_poll_day') THEN j.until END
            FROM judged j WHERE e.id = j.id AND j.reason IS NOT NULL
            RETURNING j.reason
        ),
        tally AS (
            SELECT reason, count(*) AS n FROM refused GROUP BY reason
        ),
        counted AS (
            INSERT INTO dispatch_refusals (day, centre_id, campaign_id, reason, calls)
            SELECT ($4::timestamptz AT TIME ZONE 'Asia/Kolkata')::date, $1, $18, reason, n FROM tally
            ON CONFLICT (day, centre_id, campaign_id, reason) DO UPDATE SET calls = dispatch_refusals.calls + EXCLUDED.calls
        ),
        offered AS (
            INSERT INTO offers (entry_id, centre_id, weight, offered_at, expires_at, reclaim_at)
            SELECT id, $1, $9, $4, expires, expires + make_interval(secs => $11::float8)
            FROM (SELECT j.*, row_number() OVER (ORDER BY j.priority, j.id) AS n FROM judged j WHERE j.reason IS NULL) lawful
            WHERE n <= $21
            ORDER BY priority, id
            RETURNING id, entry_id
        ),
        marked AS (
            UPDATE list_entries e SET state = 'offered', offered_at = $4 FROM offered o WHERE e.id = o.entry_id
        ),
        bodies AS (
            SELECT o.id, j.phone_sealed,
                   convert_to(json_build_object(
                       'attempt_id', o.id, 'entry_id', j.id, 'list_id', $2::bigint, 'centre', $14::text,
                       'campaign', $15::text, 'kind', $16::text, 'dialing', $17::text,
                       'material', (
                           SELECT json_build_object(
                               'code', m.code, 'version', m.version,
                               'script', coalesce(m.scripts ->> j.language, m.scripts ->> 'und',
                                                  (SELECT s.value FROM jsonb_each_text(m.scripts) s ORDER BY s.key LIMIT 1)),
                               'questions', m.questions)
                           FROM materials m
                           WHERE m.code = coalesce(j.material_code, $19::text)
                             AND (m.version = j.material_version OR (j.material_version IS NULL
                                  AND (m.valid_from IS NULL OR m.valid_from <= $4) AND (m.valid_to IS NULL OR m.valid_to > $4)))
                           ORDER BY m.version DESC LIMIT 1),
                       'attempt', j.attempts, 'max_attempts', $5::int,
                       'expires_at', to_char(j.expires AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                       -- Last, so that a gateway's number goes in at a known place, the body's
                       -- end (the relay puts it there from outbox.phone_sealed). Agents' desks
                       -- see the country code and the last four digits.
                       'contact', json_build_object(
                           'name', j.name, 'language', j.language,
                           'phone', CASE WHEN $17::text = 'gateway' THEN '' ELSE '+91******' || j.phone_tail END)
                   )::text, 'UTF8') AS body
            FROM offered o JOIN judged j ON j.id = o.entry_id
        ),
        -- A gateway's offer with its number beside it, sealed, for the relay to put in.
        queued AS (
            INSERT INTO outbox (exchange, routing_key, message_id, type, app_id, body, mandatory, phone_sealed)
            SELECT 'sampark.calls', $12, 'offer-' || b.id, 'call.offer.v2', $13, b.body, true,
                   CASE WHEN $17::text = 'gateway' THEN b.phone_sealed END
            FROM bodies b
            ORDER BY b.id
        )
        SELECT (SELECT count(*) FROM candidate)::int,
               (SELECT count(*) FROM offered)::int,
               (SELECT coalesce(array_agg(reason ORDER BY reason), '{}') FROM tally),
               (SELECT coalesce(array_agg(n::int ORDER BY reason), '{}') FROM tally)
        """
}

/// A list with entries due at a centre, with what its campaign says about dispatch; most
/// urgent kind first (polling day, then candidates and the organisation, then the voters'
/// campaigns), older lists first within a kind.
struct DueList {
    let listID: Int64
    let campaignID: Int64
    let campaignCode: String
    let kind: CampaignKind
    let pacingRatio: Double
    let maxAttempts: Int
    let window: DailyWindow?
    let dialing: String
    let material: String?
    /// For a polling-day list: the day it was built for.
    let pollDate: String?

    static func of(centreID: Int64, on connection: PostgresConnection) throws -> [DueList] {
        // The distinct lists with due entries here, found by one index probe per list (a
        // loose index scan) rather than by reading every due entry.
        try connection.query("""
            WITH RECURSIVE due(list_id) AS (
                (SELECT list_id FROM list_entries WHERE centre_id = $1 AND state = 'pending' ORDER BY list_id LIMIT 1)
                UNION ALL
                SELECT (SELECT e.list_id FROM list_entries e WHERE e.centre_id = $1 AND e.state = 'pending' AND e.list_id > d.list_id
                        ORDER BY e.list_id LIMIT 1)
                FROM due d WHERE d.list_id IS NOT NULL
            )
            SELECT l.id, k.id, k.code, k.kind, k.pacing_ratio::float8, k.max_attempts,
                   to_char(k.calls_from, 'HH24:MI'), to_char(k.calls_to, 'HH24:MI'), k.dialing, k.material_code,
                   l.spec -> 'audience' ->> 'poll_date'
            FROM due d JOIN call_lists l ON l.id = d.list_id JOIN campaigns k ON k.id = l.campaign_id
            ORDER BY CASE k.kind WHEN 'gotv' THEN 0 WHEN 'candidates' THEN 1 WHEN 'committee_reach' THEN 2 WHEN 'relay' THEN 3
                                 WHEN 'weak_booth' THEN 4 ELSE 5 END, l.id
            """, [centreID], prepared: true).map { row in
            guard let kind = CampaignKind(rawValue: try row.decode(String.self, at: 3)) else {
                throw HandlerError.permanent("a campaign has an unknown kind")
            }
            let from = try row.decode(String?.self, at: 6), to = try row.decode(String?.self, at: 7)
            return DueList(listID: try row.decode(Int64.self, at: 0), campaignID: try row.decode(Int64.self, at: 1),
                           campaignCode: try row.decode(String.self, at: 2), kind: kind,
                           pacingRatio: try row.decode(Double.self, at: 4), maxAttempts: try row.decode(Int.self, at: 5),
                           window: from.flatMap { f in to.flatMap { t in DailyWindow("\(f)-\(t)") } },
                           dialing: try row.decode(String.self, at: 8), material: try row.decode(String?.self, at: 9),
                           pollDate: try row.decode(String?.self, at: 10))
        }
    }
}
