import Foundation
import Testing
import SamparkTestSupport

/// The first real path through all five workers, as separate processes on the real servers:
/// load → ingest → list → offers → desk → outcomes → aggregates → daily report.
@Suite struct EndToEndTests {
    @Test func aDailyReportAddsUpToWhatTheDesksDid() async throws {
        let cluster = try Cluster()
        try await cluster.prepare()
        do {
            try cluster.startAll()
            try await Self.runPath(on: cluster)
            try await Self.eraseOneNumber(on: cluster)
            // Citizens' data: every error the run wrote (rejected rows, dead letters' reasons).
            let errors = try await cluster.query("""
                SELECT coalesce(string_agg(field || ' ' || reason, E'\n'), '') FROM ingest_rejects
                """, as: String.self)
            let statuses = await cluster.tearDown()
            for (worker, status) in statuses {
                #expect(status == 0, "\(worker) exited \(String(describing: status)) on SIGTERM\n\(cluster.log(of: worker).suffix(2000))")
            }
            #expect(statuses.count == Cluster.workers.count)
            // ... and every line every worker logged, through the whole path: no phone number,
            // no voter's name, no voter id.
            #expect(!errors.isEmpty, "the scenario's bad rows were rejected with reasons")
            for (source, text) in Cluster.workers.map({ ($0, cluster.log(of: $0)) }) + [("ingest_rejects", errors)] {
                #expect(!text.isEmpty, "\(source) wrote something to check")
                for needle in Scenario.personalData {
                    #expect(!text.contains(needle), "\(source) holds personal data (\(needle))")
                }
            }
        } catch {
            for worker in Cluster.workers { print("---- \(worker)\n\(cluster.log(of: worker).suffix(3000))") }
            await cluster.tearDown()
            throw error
        }
    }

    /// Loads the scenario, builds a get-out-the-vote list, lets both desks work it, and checks
    /// the published report against the entries and the desks' tallies.
    static func runPath(on cluster: Cluster) async throws {
        let dir = cluster.logDirectory
        // What docs/ingest.md promises of the exit status: 1 when a file is refused (nothing
        // sent), 64 for a wrong command line.
        let noBooth = try await cluster.cli(["load", "contacts", try Scenario.write("name,phone\nA,9876543210\n", named: "no-booth.csv", in: dir)])
        #expect(noBooth.status == 1, "\(noBooth.output)")
        #expect(noBooth.output.contains("no-booth.csv line 1: the header has no booth_code column; nothing was sent"), "\(noBooth.output)")
        let unknown = try await cluster.cli(["load", "voters", "x.csv"])
        #expect(unknown.status == 64, "\(unknown.output)")

        // Batches of two: children arrive in later batches than their parents, and still find them.
        let units = try await cluster.cli(["load", "org_units", try Scenario.write(Scenario.orgUnits, named: "org_units.csv", in: dir),
                                           "--batch-size", "2"])
        #expect(units.status == 0, "\(units.output)")
        #expect(units.output.contains("11 rows read: 10 inserted, 0 updated, 0 unchanged, 1 rejected"), "\(units.output)")
        #expect(units.output.contains("line 12\tparent_code: no unit has code 'AC-404'"), "\(units.output)")

        let centres = try await cluster.cli(["load", "call_centres", try Scenario.write(Scenario.callCentres, named: "centres.csv", in: dir)])
        #expect(centres.output.contains("2 rows read: 2 inserted, 0 updated, 0 unchanged, 0 rejected"), "\(centres.output)")
        let optOuts = try await cluster.cli(["load", "opt_outs", try Scenario.write(Scenario.optOuts, named: "opt_outs.csv", in: dir)])
        #expect(optOuts.output.contains("2 rows read: 2 inserted, 0 updated, 0 unchanged, 0 rejected"), "\(optOuts.output)")

        let contacts = try await cluster.cli(["load", "contacts", try Scenario.write(Scenario.contacts, named: "contacts.csv", in: dir),
                                              "--batch-size", "16"])
        #expect(contacts.status == 0, "\(contacts.output)")
        #expect(contacts.output.contains("64 rows read: \(Scenario.goodContactRows) inserted, 0 updated, 0 unchanged, 3 rejected"),
                "\(contacts.output)")
        #expect(contacts.output.contains("line 62\tphone: is not an Indian phone number"), "\(contacts.output)")
        #expect(contacts.output.contains("line 65\tbooth_code: no unit has code 'B-404'"), "\(contacts.output)")
        #expect(!contacts.output.contains("12345"), "a rejected value is never echoed")

        let calendar = try await cluster.cli(["load", "poll_calendar", try Scenario.write(Scenario.pollCalendar, named: "poll_calendar.csv", in: dir)])
        #expect(calendar.output.contains("2 rows read: 2 inserted"), "\(calendar.output)")

        // A request naming a unit nobody loaded is refused at once, naming the field; nothing is built.
        let refused = try await cluster.cli(["list", "build", try Scenario.write("""
            {"kind": "gotv", "campaign": {"code": "NOWHERE", "name": "Nowhere"}, "audience": {"scope": "XX-1", "poll_date": "2028-11-17"}}
            """, named: "nowhere.json", in: dir), "--wait", "--timeout", "60"])
        #expect(refused.status == 1, "\(refused.output)")
        #expect(refused.output.contains("refused request") && refused.output.contains("audience.scope: no unit has code 'XX-1'"), "\(refused.output)")
        // A spec with a field its kind does not use never leaves the command.
        let typo = try await cluster.cli(["list", "build", try Scenario.write("""
            {"kind": "gotv", "campaign": {"code": "T"}, "audience": {"scope": "MP", "poll_date": "2028-11-17", "shceme": ["x"]}}
            """, named: "typo.json", in: dir)])
        #expect(typo.status == 64 && typo.output.contains("typo.json: audience.shceme is not a field of an audience"), "\(typo.output)")

        let requestFile = try Scenario.write(Scenario.pollingDayRequest, named: "gotv.json", in: dir)
        let list = try await cluster.cli(["list", "build", requestFile, "--wait"])
        #expect(list.status == 0, "\(list.output)")
        let expectedEntries = Scenario.pollingDayCalls
        #expect(list.output.contains("\(expectedEntries) calls of \(Scenario.goodContactRows) chosen"), "\(list.output)")
        #expect(list.output.contains("left out: landline 1, opted_out 2, household_cap 4"), "\(list.output)")
        // The same request again (the same request id) answers with the same list.
        let again = try await cluster.cli(["list", "build", requestFile, "--wait"])
        let firstLine = list.output.split(separator: "\n").first { $0.hasPrefix("list ") }
        #expect(firstLine != nil && again.output.split(separator: "\n").contains { $0 == firstLine! }, "\(again.output)")
        #expect(try await cluster.query("SELECT count(*) FROM call_lists", as: Int.self) == 1)

        async let drg = cluster.deskSim("DRG-01")
        async let cdw = cluster.deskSim("CDW-01")
        let desks = try await [drg, cdw]
        for desk in desks { #expect(desk.status == 0, "\(desk.output)") }

        // Every entry was offered once (a retry waits longer than this test) and its outcome recorded once.
        #expect(try await eventually { try await cluster.query("SELECT count(*) FROM attempts", as: Int.self) == expectedEntries },
                "every outcome recorded")
        #expect(try await cluster.query("SELECT count(*) FROM offers", as: Int.self) == expectedEntries)
        #expect(try await cluster.query("SELECT count(*) FROM offers WHERE state = 'answered'", as: Int.self) == expectedEntries)
        let deskTotal = desks.map(\.output).joined()
        #expect(deskTotal.contains("calls:"), "\(deskTotal)")
        // What the report must say: the ledger, counted by hand here.
        var expected: [String: Int] = [:]
        for disposition in ["connected", "no_answer", "busy", "wrong_number", "opted_out", "switched_off", "not_reachable", "call_back",
                            "refused", "language_barrier"] {
            expected[disposition] = try await cluster.query("SELECT count(*)::int FROM attempts WHERE result = '\(disposition)'", as: Int.self)
        }
        let voted = try await cluster.query("SELECT count(*)::int FROM attempts WHERE has_voted", as: Int.self)
        #expect(expected.values.reduce(0, +) == expectedEntries)

        let (published, output) = try await cluster.requestDailyReport()
        guard let report = published, let totals = report["totals"] as? [String: Int],
              let calls = report["calls"] as? [[String: Any]], let centres = report["centres"] as? [[String: Any]] else {
            Issue.record("no report JSON in: \(output)")
            return
        }
        #expect(totals["attempts"] == expectedEntries)
        for (disposition, count) in expected { #expect(totals[disposition] == count, "\(disposition)") }
        #expect(totals["voted"] == voted, "those who said they voted")
        #expect(try await cluster.query("SELECT count(*)::int FROM turnout_marks WHERE source = 'call'", as: Int.self) == voted,
                "each marked, so no turnout call follows")
        #expect(report["report_id"] as? String == "daily/\(report["day"] as? String ?? "")/national")
        #expect(Set(centres.compactMap { $0["centre"] as? String }) == ["DRG-01", "CDW-01"], "each centre's work, by shift")
        #expect(centres.compactMap { $0["attempts"] as? Int }.reduce(0, +) == expectedEntries, "the shifts add up to the total")
        let campaignSum = calls.compactMap { ($0["counts"] as? [String: Int])?["attempts"] }.reduce(0, +)
        #expect(campaignSum == expectedEntries, "the campaigns add up to the total")
    }

    /// A citizen's erasure request after the day's work (docs/security.md): no table keeps the
    /// number, the aggregates keep their counts, the processing log says who asked (and who
    /// asked for the lists and the report), and the number, loaded again from a new roll,
    /// stays off the next list by its keyed hash.
    static func eraseOneNumber(on cluster: Cluster) async throws {
        // The number of the first call made, opened with the test's key as the dispatcher would.
        let sealed = try await cluster.query("""
            SELECT coalesce((SELECT encode(e.phone_sealed, 'hex') FROM list_entries e JOIN attempts t ON t.entry_id = e.id ORDER BY e.id LIMIT 1), '')
            """, as: String.self)
        guard !sealed.isEmpty else { Issue.record("no call was made to erase"); return }
        let phone = try TestPhones.vault.open([UInt8](PhoneVault.bytes(hex: "\\x" + sealed)))
        let digits = String(phone.suffix(10))
        func hashHex(_ number: String) -> String { String(PhoneVault.hex(TestPhones.vault.hash(number)).dropFirst(2)) }
        let sums = """
            SELECT (SELECT sum(attempts) FROM unit_aggregates)::text || '/' || (SELECT sum(attempts) FROM shift_aggregates)::text
                   || '/' || (SELECT count(*) FROM attempts)::text || '/' || (SELECT sum(connected) FROM unit_aggregates)::text
            """
        let before = try await cluster.query(sums, as: String.self)
        // Every row of every table, as text, searched for a text (the number's ten digits, or
        // its keyed hash in hex); and the outbox's bodies (bytes) for the number.
        func holding(_ text: String) -> String { """
            SELECT coalesce(string_agg(t.table_name, ', ' ORDER BY t.table_name), '') FROM information_schema.tables t
            WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE'
              AND (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I x WHERE x::text LIKE %L',
                                                               t.table_name, '%\(text)%'), false, true, '')))[1]::text::int > 0
            """
        }
        // At rest, no table holds the number in clear, after a whole day's work (issue 9).
        #expect(try await cluster.query(holding(digits), as: String.self) == "", "no table holds the number in clear")
        #expect(try await cluster.query(holding(hashHex(phone)), as: String.self).contains("contacts"), "the search finds its hash before")

        let erase = try await cluster.cli(["erase", "--phone", phone, "--requested-by", "grievance desk, ticket 7",
                                           "--reason", "the citizen asked by email"])
        #expect(erase.status == 0, "\(erase.output)")
        #expect(erase.output.contains("erased: ") && erase.output.contains("contacts "), "\(erase.output)")
        #expect(!erase.output.contains(digits), "the command never prints the number")
        #expect(try await cluster.query(holding(hashHex(phone)), as: String.self) == "erased_phones", "only the erased hash is kept")
        #expect(try await cluster.query(holding(digits), as: String.self) == "")
        #expect(try await cluster.query("""
            SELECT count(*)::int FROM outbox WHERE position(convert_to('\(digits)', 'UTF8') IN body) > 0
            """, as: Int.self) == 0)
        #expect(try await cluster.query(sums, as: String.self) == before, "the aggregates keep their counts")
        #expect(try await cluster.query("SELECT count(*)::int FROM erased_phones", as: Int.self) == 1)

        // Who asked for what: the erasure, the lists and the report, each with its sender.
        let log = try await cluster.query("""
            SELECT coalesce(string_agg(action || ' by ' || requested_by, '; ' ORDER BY id), '') FROM processing_log
            """, as: String.self)
        #expect(log.contains("erase by grievance desk, ticket 7"), "\(log)")
        #expect(log.contains("list by sampark") && log.contains("report by sampark"), "the broker-verified sender: \(log)")

        // The same roll loaded again brings the voter back; the next list leaves them out.
        let reload = try await cluster.cli(["load", "contacts", try Scenario.write(Scenario.contacts, named: "contacts-again.csv", in: cluster.logDirectory)])
        #expect(reload.status == 0, "\(reload.output)")
        #expect(try await cluster.query("SELECT count(*)::int FROM contacts WHERE encode(phone_hash, 'hex') = '\(hashHex(phone))'", as: Int.self) > 0)
        let next = try await cluster.cli(["list", "build", try Scenario.write(
            Scenario.pollingDayRequest.replacingOccurrences(of: "polling-day-mp", with: "polling-day-mp-2"),
            named: "gotv-2.json", in: cluster.logDirectory), "--wait", "--purpose", "second round"])
        #expect(next.status == 0, "\(next.output)")
        #expect(try await cluster.query("""
            SELECT count(*)::int FROM list_entries e JOIN call_lists l ON l.id = e.list_id
            WHERE l.request_id = 'polling-day-mp-2' AND encode(e.phone_hash, 'hex') = '\(hashHex(phone))'
            """, as: Int.self) == 0, "an erased number is never called again")
        #expect(try await cluster.query("""
            SELECT count(*)::int FROM processing_log WHERE action = 'list' AND purpose = 'second round'
            """, as: Int.self) == 1)

        // The central team's way: an erasure request message, done by the ingest-worker.
        let secondSealed = try await cluster.query("""
            SELECT coalesce((SELECT encode(c.phone_sealed, 'hex') FROM contacts c WHERE encode(c.phone_hash, 'hex') <> '\(hashHex(phone))'
                             ORDER BY c.id LIMIT 1), '')
            """, as: String.self)
        let second = try TestPhones.vault.open([UInt8](PhoneVault.bytes(hex: "\\x" + secondSealed)))
        let asked = try await cluster.cli(["erase", "--publish", "--phone", second, "--requested-by", "grievance desk, ticket 8",
                                           "--reason", "asked on the helpline"])
        #expect(asked.status == 0, "\(asked.output)")
        #expect(try await eventually(timeout: .seconds(30)) {
            try await cluster.query("SELECT count(*)::int FROM contacts WHERE encode(phone_hash, 'hex') = '\(hashHex(second))'", as: Int.self) == 0
        }, "erased by the ingest-worker")
        #expect(try await cluster.query("SELECT count(*)::int FROM erased_phones", as: Int.self) == 2)
        #expect(try await cluster.query("""
            SELECT count(*)::int FROM processing_log WHERE action = 'erase' AND requested_by = 'grievance desk, ticket 8 (via sampark)'
              AND purpose = 'asked on the helpline'
            """, as: Int.self) == 1)
        #expect(try await cluster.query(sums, as: String.self) == before, "the aggregates keep their counts")

        // Retention: calls older than the setting lose their notes and answers, and nothing else.
        // (The scenario's calls are dated on its own clock, years ahead: five are made old.)
        let aged = try await cluster.query("""
            WITH aged AS (
                UPDATE attempts SET ended_at = now() - interval '40 days', feedback = coalesce(feedback, 'a note'),
                                    answers = coalesce(answers, '{"q": "yes"}')
                WHERE id IN (SELECT id FROM attempts ORDER BY id LIMIT 5) RETURNING 1)
            SELECT count(*)::int FROM aged
            """, as: Int.self)
        let short = try await cluster.cli(["purge", "--log-days", "100"])
        #expect(short.status == 64 && short.output.contains("--log-days must be at least 366"), "the log is kept a year: \(short.output)")
        let purge = try await cluster.cli(["purge", "--notes-days", "30", "--batch", "100"])
        #expect(purge.status == 0, "\(purge.output)")
        #expect(purge.output.contains("purged: \(aged) calls' notes and answers"), "\(purge.output)")
        #expect(try await cluster.query("""
            SELECT count(*)::int FROM attempts WHERE ended_at < now() - interval '30 days' AND (feedback IS NOT NULL OR answers IS NOT NULL)
            """, as: Int.self) == 0)
        #expect(try await cluster.query(sums, as: String.self) == before, "the aggregates keep their counts")
        #expect(try await cluster.query("SELECT count(*)::int FROM processing_log WHERE action = 'purge'", as: Int.self) == 1)
    }
}
