import Foundation
import Reporter
import SamparkCore
import SamparkPostgres

/// The reporter's daily district report over a ledger of `--report-attempts` calls (10,000,000
/// by default) spread over ten days, on a state of 50 districts and 60,000 booths: the report
/// is built from the aggregates (docs/reports.md), never the ledger. Beside it, in the same
/// run: one hand-written SUM over the same aggregate rows (the least any report must read),
/// and, once, the same district's day counted from the ledger (what the aggregates spare).
/// Target: a district's report in ≤ 1 s.
struct ReportBench {
    let options: BenchOptions
    let postgresURL: String

    private let database = "sampark_bench_reports"

    func run() async throws {
        let n = options.reportAttempts
        let db = try await BenchDatabase.fresh(database, postgresURL: postgresURL)
        let day = "2028-11-17"
        print("report bench: a ledger of \(n) calls over 10 days, 50 districts, 60000 booths (building it takes minutes)")
        let started = ContinuousClock.now
        try await db.pool.withConnection { conn in
            try conn.executeScript("""
                INSERT INTO org_units (id, level, code, name, parent_id, path, state_id) VALUES (1, 'state', 'MP', 'Madhya Pradesh', NULL, '1', 1);
                INSERT INTO org_units (id, level, code, name, parent_id, path, state_id)
                    SELECT 10 + d, 'district', 'D-' || d, 'District ' || d, 1, text2ltree('1.' || (10 + d)), 1 FROM generate_series(0, 49) d;
                INSERT INTO org_units (id, level, code, name, parent_id, path, state_id)
                    SELECT 100 + a, 'ac', 'AC-' || a, 'AC ' || a, 10 + a / 4, text2ltree('1.' || (10 + a / 4) || '.' || (100 + a)), 1
                    FROM generate_series(0, 199) a;
                INSERT INTO org_units (id, level, code, name, parent_id, path, state_id)
                    SELECT 1000 + b, 'booth', 'B-' || b, 'Booth ' || b, 100 + b / 300,
                           text2ltree('1.' || (10 + b / 1200) || '.' || (100 + b / 300) || '.' || (1000 + b)), 1
                    FROM generate_series(0, 59999) b;
                INSERT INTO call_centres (id, code, name, seats, shifts)
                    SELECT c + 1, 'CC-' || c, 'Centre ' || c, 36, '{09:00-15:00,15:00-21:00}' FROM generate_series(0, 49) c;
                INSERT INTO call_centre_regions (centre_id, unit_id) SELECT c + 1, 10 + c FROM generate_series(0, 49) c;
                INSERT INTO contacts (id, phone_hash, phone_sealed, phone_tail, name, booth_id, state_id, schemes)
                    SELECT i, \(BenchPhones.columns("'+9197' || lpad(i::text, 8, '0')")), 'Voter ' || i, 1000 + i % 60000, 1, '{ujjwala}' FROM generate_series(1, 60000) i;
                INSERT INTO people (id, name, phone_hash, phone_sealed, phone_tail, role, unit_id, committee)
                    SELECT i, 'Worker ' || i, \(BenchPhones.columns("'+9196' || lpad(i::text, 8, '0')")), 'booth_member', 1000 + i % 60000, 'booth committee'
                    FROM generate_series(1, 180000) i;
                INSERT INTO people_reached (person_id, first_reached_on) SELECT id, '2028-11-10' FROM people WHERE id % 2 = 0;
                INSERT INTO campaigns (id, code, kind, name, scope_id) VALUES
                    (1, 'FEEDBACK', 'scheme_feedback', 'Feedback', 1), (2, 'REACH', 'committee_reach', 'Reach', 1), (3, 'GOTV', 'gotv', 'Turnout', 1);
                INSERT INTO call_lists (id, campaign_id, spec, ready) VALUES (1, 1, '{}', '{}');
                INSERT INTO list_entries (id, list_id, contact_id, phone_hash, phone_sealed, phone_tail, centre_id, state)
                    SELECT c.id, 1, c.id, c.phone_hash, c.phone_sealed, c.phone_tail, 1 + (c.booth_id - 1000) / 1200, 'completed' FROM contacts c;
                """)
            // The ledger: call i is entry 1 + i % 60000's (a booth's), on one of ten days, in one of
            // three campaigns, spread so that every day touches every booth in every campaign.
            let dispositions = ["connected", "connected", "connected", "connected", "no_answer", "no_answer", "busy", "switched_off",
                                "call_back", "wrong_number", "refused", "opted_out"]
            let chunk = 1_000_000
            var done = 0
            while done < n {
                let upTo = min(n, done + chunk)
                try conn.execute("""
                    INSERT INTO attempts (entry_id, centre_id, agent, result, started_at, ended_at, message_id, campaign_id, unit_id, day,
                                          talk_seconds, scheme_feedback, turnout, scheme, issue_tags)
                    SELECT e, 1 + (e - 1) % 60000 / 1200, 'agent', (ARRAY['\(dispositions.joined(separator: "','"))'])[1 + i % 12],
                           d + time '10:00' + make_interval(secs => i % 36000), d + time '10:01' + make_interval(secs => i % 36000),
                           'm' || i, 1 + i / 70 % 3, 1000 + e % 60000, d, 60,
                           CASE WHEN i % 3 = 0 THEN (ARRAY['received', 'not_received', 'partly'])[1 + i % 9 / 3] END,
                           CASE WHEN i % 3 = 2 THEN (ARRAY['voted', 'not_yet', 'will_vote'])[1 + i % 7 % 3] END,
                           CASE WHEN i % 3 = 0 THEN 'ujjwala' END,
                           CASE WHEN i % 5 = 0 THEN ARRAY[(ARRAY['water', 'roads', 'jobs'])[1 + i % 15 / 5]] END
                    FROM generate_series($1::bigint, $2::bigint) i,
                         LATERAL (SELECT 1 + i % 60000 AS e, date '\(day)' - (i / 7 % 10)::int AS d) x
                    """, [done + 1, upTo])
                done = upTo
                print("  ledger: \(done) calls (\(Int(seconds(since: started))) s)")
            }
            // The aggregates, recomputed from the ledger as the aggregator would have kept them.
            try conn.executeScript("""
                INSERT INTO unit_aggregates (day, campaign_id, unit_id, attempts, connected, no_answer, busy, switched_off, not_reachable,
                                             wrong_number, call_back, refused, language_barrier, opted_out, voted, not_yet, will_vote,
                                             benefit_not_received, talk_seconds)
                    SELECT day, campaign_id, unit_id, count(*), count(*) FILTER (WHERE result = 'connected'),
                           count(*) FILTER (WHERE result = 'no_answer'), count(*) FILTER (WHERE result = 'busy'),
                           count(*) FILTER (WHERE result = 'switched_off'), count(*) FILTER (WHERE result = 'not_reachable'),
                           count(*) FILTER (WHERE result = 'wrong_number'), count(*) FILTER (WHERE result = 'call_back'),
                           count(*) FILTER (WHERE result = 'refused'), count(*) FILTER (WHERE result = 'language_barrier'),
                           count(*) FILTER (WHERE result = 'opted_out'), count(*) FILTER (WHERE turnout = 'voted'),
                           count(*) FILTER (WHERE turnout = 'not_yet'), count(*) FILTER (WHERE turnout = 'will_vote'),
                           count(*) FILTER (WHERE scheme_feedback = 'not_received'), sum(talk_seconds)
                    FROM attempts GROUP BY day, campaign_id, unit_id;
                INSERT INTO shift_aggregates (day, centre_id, shift, attempts, connected, talk_seconds)
                    SELECT day, centre_id, CASE WHEN (started_at AT TIME ZONE 'Asia/Kolkata')::time < '15:00' THEN '09:00-15:00' ELSE '15:00-21:00' END,
                           count(*), count(*) FILTER (WHERE result = 'connected'), sum(talk_seconds)
                    FROM attempts GROUP BY 1, 2, 3;
                INSERT INTO scheme_tallies (day, campaign_id, unit_id, scheme, received, not_received, partly)
                    SELECT day, campaign_id, unit_id, scheme, count(*) FILTER (WHERE scheme_feedback = 'received'),
                           count(*) FILTER (WHERE scheme_feedback = 'not_received'), count(*) FILTER (WHERE scheme_feedback = 'partly')
                    FROM attempts WHERE scheme IS NOT NULL GROUP BY 1, 2, 3, 4;
                INSERT INTO issue_tallies (day, campaign_id, unit_id, tag, calls)
                    SELECT day, campaign_id, unit_id, t, count(*) FROM attempts, unnest(issue_tags) t GROUP BY 1, 2, 3, 4;
                INSERT INTO dispatch_refusals (day, centre_id, campaign_id, reason, calls)
                    SELECT '\(day)', c, 3, 'silence_period', 10 * c FROM generate_series(1, 50) c;
                """)
            for table in ["attempts", "unit_aggregates", "shift_aggregates", "scheme_tallies", "issue_tallies", "org_units", "people",
                          "people_reached"] {
                try conn.execute("VACUUM ANALYZE \(table)")
            }
        }
        let rows = try await db.pool.query("SELECT count(*), (SELECT count(*) FROM unit_aggregates) FROM attempts")[0]
        print("  built in \(Int(seconds(since: started))) s: \(try rows.decode(Int.self, at: 0)) calls in the ledger, "
              + "\(try rows.decode(Int.self, at: 1)) aggregate rows")

        var reportTimes: [Double] = [], sumTimes: [Double] = []
        for round in 0..<max(options.rounds, 5) {
            let district = "D-\(round * 7 % 50)"
            let path = "1.\(10 + round * 7 % 50)"
            let t0 = ContinuousClock.now
            let report = try await db.pool.withConnection { conn in
                try DailyReports.build(try DailyReports.scope(code: district, on: conn), day: day, generatedAt: Date(), on: conn)
            }
            reportTimes.append(seconds(since: t0) * 1000)
            let t1 = ContinuousClock.now
            let sum = try await db.pool.query("""
                SELECT sum(a.attempts)::bigint FROM unit_aggregates a JOIN org_units u ON u.id = a.unit_id
                WHERE a.day = $1::date AND u.path <@ $2::ltree
                """, [day, path])[0].decode(Int.self, at: 0)
            sumTimes.append(seconds(since: t1) * 1000)
            guard sum == report.totals.attempts else { fail("the report of \(district) counts \(report.totals.attempts) calls, the aggregates \(sum)") }
            print(String(format: "round %d: %@ report %.1f ms (%d calls that day, %d committees), hand-written SUM %.1f ms",
                         round + 1, district, reportTimes.last!, report.totals.attempts,
                         report.committees.reduce(0) { $0 + $1.committees }, sumTimes.last!))
        }
        let t2 = ContinuousClock.now
        let fromLedger = try await db.pool.query("""
            SELECT count(*) FROM attempts t JOIN org_units u ON u.id = t.unit_id WHERE t.day = $1::date AND u.path <@ '1.10'::ltree
            """, [day])[0].decode(Int.self, at: 0)
        let ledgerTime = seconds(since: t2) * 1000
        let t3 = ContinuousClock.now
        let state = try await db.pool.withConnection { conn in
            try DailyReports.build(try DailyReports.scope(code: "MP", on: conn), day: day, generatedAt: Date(), on: conn)
        }
        let stateTime = seconds(since: t3) * 1000
        let t4 = ContinuousClock.now
        _ = try await db.pool.withConnection { conn in
            try DailyReports.build(try DailyReports.scope(code: nil, on: conn), day: day, generatedAt: Date(), on: conn)
        }
        let nationTime = seconds(since: t4) * 1000
        let medianReport = median(reportTimes)
        print("")
        print(String(format: "| daily district report, %d calls in the ledger | %.1f ms median | target <= 1000 ms %@ |",
                     n, medianReport, medianReport <= 1000 ? "met" : "NOT met"))
        print(String(format: "| hand-written SUM over the same aggregate rows | %.1f ms median | report / SUM: %.1fx the time |",
                     median(sumTimes), medianReport / max(median(sumTimes), 0.001)))
        print(String(format: "| the same district's day counted from the ledger (%d calls) | %.1f ms | what the aggregates spare |",
                     fromLedger, ledgerTime))
        print(String(format: "| the state's report (%d calls that day) | %.1f ms | the nation's %.1f ms |", state.totals.attempts, stateTime, nationTime))
        try await db.close()
    }
}
