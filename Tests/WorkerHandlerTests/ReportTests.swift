import Foundation
import Testing
import FeedbackAggregator
import Logging
import Reporter
import SamparkCore
import SamparkPostgres
@testable import SamparkRuntime
import SamparkTestSupport

/// The aggregator and the reporter on a small tree whose right answers are counted here by
/// hand: a district's report, its state's and the nation's; escalations and corrections; the
/// constituency dossier; a re-run that replaces its report under the same id.
@Suite struct ReportTests {
    /// State S: district D1 (AC-1: booths B-1, B-2) and district D2 (AC-2: booth B-3).
    /// Centre C1 serves D1, C2 serves D2. Campaigns: FEEDBACK (scheme feedback on ujjwala),
    /// REACH (committees), GOTV. Entry n is offer (attempt) n.
    static let setup = """
        INSERT INTO org_units (id, level, code, name, parent_id, path, state_id) VALUES
            (1, 'state', 'S', 'State', NULL, '1', 1), (2, 'district', 'D1', 'District 1', 1, '1.2', 1),
            (3, 'ac', 'AC-1', 'AC 1', 2, '1.2.3', 1), (4, 'booth', 'B-1', 'Booth 1', 3, '1.2.3.4', 1),
            (5, 'booth', 'B-2', 'Booth 2', 3, '1.2.3.5', 1), (6, 'district', 'D2', 'District 2', 1, '1.6', 1),
            (7, 'ac', 'AC-2', 'AC 2', 6, '1.6.7', 1), (8, 'booth', 'B-3', 'Booth 3', 7, '1.6.7.8', 1);
        INSERT INTO call_centres (id, code, name, seats, shifts) VALUES
            (1, 'C1', 'Centre 1', 10, '{09:00-15:00,15:00-21:00}'), (2, 'C2', 'Centre 2', 10, '{09:00-15:00,15:00-21:00}');
        INSERT INTO call_centre_regions (centre_id, unit_id) VALUES (1, 2), (2, 6);
        INSERT INTO contacts (id, phone_hash, phone_sealed, phone_tail, name, booth_id, state_id, schemes) VALUES
            (1, \(TestPhones.sql("+919800000001")), 'Asha', 4, 1, '{pm_kisan,ujjwala}'), (2, \(TestPhones.sql("+919800000002")), 'Bela', 5, 1, '{ujjwala}'),
            (3, \(TestPhones.sql("+919800000003")), 'Chetan', 8, 1, '{pm_kisan}');
        INSERT INTO people (id, name, phone_hash, phone_sealed, phone_tail, role, unit_id, committee, responsibilities) VALUES
            (1, 'Pushpa', \(TestPhones.sql("+919810000001")), 'booth_president', 4, 'booth committee', 'Booth 1 roll'),
            (2, 'Prem', \(TestPhones.sql("+919810000002")), 'booth_member', 4, 'booth committee', NULL),
            (3, 'Pawan', \(TestPhones.sql("+919810000003")), 'booth_president', 5, 'booth committee', NULL),
            (4, 'Pratap', \(TestPhones.sql("+919810000004")), 'ac_president', 3, 'ac committee', 'AC war room');
        INSERT INTO campaigns (id, code, kind, name, scope_id) VALUES
            (1, 'FEEDBACK', 'scheme_feedback', 'Feedback', 1), (2, 'REACH', 'committee_reach', 'Reach', 1), (3, 'GOTV', 'gotv', 'Poll', 1);
        INSERT INTO call_lists (id, campaign_id, spec, ready) VALUES
            (1, 1, '{"audience": {"scope": "S", "schemes": ["ujjwala"]}}', '{}'), (2, 2, '{}', '{}'), (3, 3, '{}', '{}');
        INSERT INTO list_entries (id, list_id, contact_id, person_id, centre_id, state) VALUES
            (1, 1, 1, NULL, 1, 'offered'), (2, 1, 2, NULL, 1, 'offered'),
            (3, 1, 3, NULL, 2, 'offered'), (4, 2, NULL, 1, 1, 'offered'),
            (5, 2, NULL, 2, 1, 'offered'), (6, 2, NULL, 3, 1, 'offered'),
            (7, 3, 1, NULL, 1, 'offered'), (8, 2, NULL, 4, 1, 'offered');
        UPDATE list_entries e SET phone_hash = x.phone_hash, phone_sealed = x.phone_sealed, phone_tail = x.phone_tail
            FROM (SELECT id, NULL::bigint AS person_id, phone_hash, phone_sealed, phone_tail FROM contacts
                  UNION ALL SELECT NULL, id, phone_hash, phone_sealed, phone_tail FROM people) x
            WHERE e.contact_id = x.id OR e.person_id = x.person_id;
        INSERT INTO offers (id, entry_id, centre_id, weight, offered_at, expires_at, reclaim_at)
            SELECT id, id, centre_id, 1, now(), now(), now() FROM list_entries;
        INSERT INTO booth_results (booth_id, election, party, votes) VALUES
            (4, 'AE2023', 'BJP', 300), (4, 'AE2023', 'INC', 400), (4, 'AE2023', 'IND', 100),
            (5, 'AE2023', 'BJP', 500), (5, 'AE2023', 'INC', 300),
            (4, 'AE2018', 'BJP', 10), (4, 'AE2018', 'INC', 5);
        INSERT INTO dispatch_refusals (day, centre_id, campaign_id, reason, calls) VALUES
            ('2028-11-17', 1, 3, 'silence_period', 5), ('2028-11-17', 2, 1, 'opted_out', 2), ('2028-11-16', 1, 3, 'calling_hours', 9);
        """

    static let morning = ISO8601DateFormatter().date(from: "2028-11-17T10:00:00+05:30")!
    static let day = "2028-11-17"

    static func outcome(_ attempt: Int64, _ disposition: Disposition, at moment: Date = morning, talk: Int? = nil) -> CallOutcome {
        CallOutcome(attemptID: attempt, entryID: attempt, centre: attempt == 3 ? "C2" : "C1", agent: "agent-1", disposition: disposition,
                    talkSeconds: talk, startedAt: moment, endedAt: moment.addingTimeInterval(60))
    }

    /// The day's calls: see each line.
    static var outcomes: [(CallOutcome, String)] {
        var first = outcome(1, .connected, talk: 60)           // B-1, benefit not received (scheme: ujjwala, from the list)
        first.schemeFeedback = .notReceived
        first.issueTags = ["Water", "roads", "water"]          // one call, counted once per tag
        var second = outcome(2, .connected, talk: 30)          // B-2, received, ujjwala named
        second.schemeFeedback = .received
        second.scheme = "ujjwala"
        second.issueTags = ["water"]
        var fourth = outcome(4, .connected)                     // Pushpa (B-1) reached, corrects her role
        fourth.verification = .init(roleConfirmed: false, unitConfirmed: true, corrections: .init(role: "booth_secretary"))
        var seventh = outcome(7, .connected)                    // polling day: voted
        seventh.turnout = .voted
        return [(first, "m1"), (second, "m2"), (outcome(3, .noAnswer), "m3"), (fourth, "m4"),
                (outcome(5, .connected, at: morning.addingTimeInterval(6 * 3600)), "m5"),   // Prem (B-1), 16:00: the second shift
                (outcome(6, .busy), "m6"), (seventh, "m7"), (outcome(8, .connected), "m8")]  // Pawan (B-2) busy; Pratap (AC-1) reached
    }

    static func report(_ db: FreshDatabase, _ scope: String?) async throws -> DailyReport {
        try await db.pool.withConnection { connection in
            try DailyReports.build(try DailyReports.scope(code: scope, on: connection), day: day, generatedAt: morning, on: connection)
        }
    }

    @Test func aDistrictsReportCountsWhatHappenedInItsSubtree() async throws {
        try await FreshDatabase.with("reports") { db in
            try await db.pool.withConnection { try $0.executeScript(Self.setup) }
            try await db.handle(batch: CallOutcomeHandler(), Self.outcomes)
            let report = try await Self.report(db, "D1")

            #expect(report.reportID == "daily/2028-11-17/D1")
            #expect(report.scope == ReportScope(level: "district", code: "D1", name: "District 1", state: "S"))
            #expect(DailyReport.routingKey(for: report.scope) == "report.daily.S.D1")
            #expect(report.calls.map { "\($0.campaign) \($0.counts.attempts) \($0.counts.connected) \($0.counts.busy) \($0.counts.voted)" }
                    == ["FEEDBACK 2 2 0 0", "GOTV 1 1 0 1", "REACH 4 3 1 0"], "B-3's call is D2's")
            #expect(report.totals == .init(attempts: 7, connected: 6, busy: 1, voted: 1))
            // B-1: Pushpa and Prem reached; B-2: Pawan was busy; AC-1: Pratap alone.
            #expect(report.committees == [.init(level: "ac", committees: 1, reachedTwo: 0), .init(level: "booth", committees: 2, reachedTwo: 1)])
            #expect(report.schemes == [.init(scheme: "ujjwala", received: 1, notReceived: 1, partly: 0)])
            #expect(report.escalations == .init(raised: 1, open: 1))
            #expect(report.issueTags == [.init(tag: "water", calls: 2), .init(tag: "roads", calls: 1)])
            #expect(report.turnout == .init(calls: 1, reached: 1, voted: 1))
            #expect(report.centres == [.init(centre: "C1", shift: "09:00-15:00", attempts: 6, connected: 5, talkSeconds: 90),
                                       .init(centre: "C1", shift: "15:00-21:00", attempts: 1, connected: 1, talkSeconds: 0)],
                    "C2 serves D2 only")
            #expect(report.refusals == [.init(reason: "silence_period", calls: 5)], "C1's, on this day")
            #expect(report.pendingCorrections == 1)
        }
    }

    @Test func theStateAndTheNationSumEveryDistrict() async throws {
        try await FreshDatabase.with("reports") { db in
            try await db.pool.withConnection { try $0.executeScript(Self.setup) }
            try await db.handle(batch: CallOutcomeHandler(), Self.outcomes)
            let state = try await Self.report(db, "S")
            #expect(DailyReport.routingKey(for: state.scope) == "report.daily.S.all")
            #expect(state.totals == .init(attempts: 8, connected: 6, noAnswer: 1, busy: 1, voted: 1))
            #expect(Set(state.centres.map(\.centre)) == ["C1", "C2"])
            #expect(state.refusals == [.init(reason: "opted_out", calls: 2), .init(reason: "silence_period", calls: 5)])
            let nation = try await Self.report(db, nil)
            #expect(nation.reportID == "daily/2028-11-17/national")
            #expect(DailyReport.routingKey(for: nation.scope) == "report.daily.national")
            #expect(nation.totals == state.totals)
            let other = try await Self.report(db, "D2")
            #expect(other.totals == .init(attempts: 1, noAnswer: 1))
            #expect(other.committees.isEmpty && other.schemes.isEmpty && other.escalations == .init(raised: 0, open: 0))
        }
    }

    @Test func benefitNotReceivedIsEscalatedToItsDistrictAndCorrectionsWaitForIt() async throws {
        try await FreshDatabase.with("reports") { db in
            try await db.pool.withConnection { try $0.executeScript(Self.setup) }
            try await db.handle(batch: CallOutcomeHandler(), Self.outcomes)
            // Again under other message ids (a desk that published twice): nothing new.
            try await db.handle(batch: CallOutcomeHandler(), Self.outcomes.map { ($0.0, $0.1 + "-again") })
            #expect(try await db.strings("SELECT attempt_id || ' ' || scheme || ' ' || state FROM escalations") == ["1 ujjwala open"])
            let rows = try await db.pool.query("SELECT routing_key, type, body FROM outbox WHERE message_id LIKE 'escalation/%'")
            #expect(rows.count == 1)
            let row = try #require(rows.first)
            #expect(try row.decode(String.self, at: 0) == "escalation.S.D1")
            #expect(try row.decode(String.self, at: 1) == EscalationRaised.messageType)
            let message = try MessageCoding.decode(EscalationRaised.self, from: Array(try row.decode(Data.self, at: 2)))
            #expect(message.attemptID == 1 && message.unit == "B-1" && message.district == "D1" && message.state == "S")
            #expect(message.scheme == "ujjwala" && message.campaign == "FEEDBACK" && message.contactID == 1)
            #expect(message.phone == "+91******0001", "masked: the follow-up team looks the contact up")
            #expect(try await db.strings("SELECT person_id || ' ' || field || ' ' || recorded || ' ' || proposed || ' ' || state FROM person_corrections")
                    == ["1 role booth_president booth_secretary pending"])
            #expect(try await db.strings("SELECT role FROM people WHERE id = 1") == ["booth_president"], "applied only once the district confirms")
            #expect(try await db.strings("SELECT person_id || ' ' || first_reached_on FROM people_reached ORDER BY person_id")
                    == ["1 2028-11-17", "2 2028-11-17", "4 2028-11-17"])
        }
    }

    @Test func aReRunReplacesTheReportUnderItsIdAndAnUnknownScopeIsRefused() async throws {
        try await FreshDatabase.with("reports") { db in
            try await db.pool.withConnection { try $0.executeScript(Self.setup) }
            let handler = ReportRequestHandler(settings: ReportSettings(publishAt: nil, clock: .fixed(at: Self.morning)))
            try await db.handle(handler, ReportRequest(kind: .daily, day: Self.day, scope: "D1"), messageID: "r1")
            try await db.handle(batch: CallOutcomeHandler(), Self.outcomes)
            try await db.handle(handler, ReportRequest(kind: .daily, day: Self.day, scope: "D1"), messageID: "r2", replyTo: "desk")
            #expect(try await db.strings("SELECT report_id || ' ' || (body->'totals'->>'attempts') FROM reports") == ["daily/2028-11-17/D1 7"],
                    "one row per report id, as it stands now")
            let published = try await db.strings("""
                SELECT routing_key || ' ' || (convert_from(body, 'UTF8')::jsonb->>'report_id') || ' ' || (convert_from(body, 'UTF8')::jsonb->'totals'->>'attempts')
                FROM outbox WHERE type = 'report.daily.v2' ORDER BY id
                """)
            #expect(published == ["report.daily.S.D1 daily/2028-11-17/D1 0", "report.daily.S.D1 daily/2028-11-17/D1 7", "desk daily/2028-11-17/D1 7"],
                    "each run published under the same report id; the second also answered its requester")
            await #expect(throws: HandlerError.self) {
                try await db.handle(handler, ReportRequest(kind: .daily, day: Self.day, scope: "NOWHERE"))
            }
            await #expect(throws: HandlerError.self) {
                try await db.handle(handler, ReportRequest(kind: .daily, day: "17-11-2028", scope: "D1"))
            }
            // Every district's, the state's and the nation's, as at the set time.
            try await db.handle(handler, ReportRequest(kind: .daily, day: Self.day, all: true), messageID: "all")
            #expect(try await db.strings("SELECT routing_key FROM outbox WHERE message_id LIKE 'all/%' AND type = 'report.daily.v2' ORDER BY id")
                    == ["report.daily.S.D1", "report.daily.S.D2", "report.daily.S.all", "report.daily.national"])
        }
    }

    @Test func theScheduleClaimsTheDayOnce() async throws {
        try await FreshDatabase.with("reports") { db in
            try await db.pool.withConnection { try $0.executeScript(Self.setup) }
            let evening = ISO8601DateFormatter().date(from: "2028-11-17T21:31:00+05:30")!
            let early = ReportSchedule(settings: ReportSettings(publishAt: 21 * 60 + 30, clock: .fixed(at: Self.morning)), pool: db.pool,
                                       relay: nil, logger: .init(label: "test"))
            #expect(try await early.publishIfDue() == nil, "not before the set time")
            let schedule = ReportSchedule(settings: ReportSettings(publishAt: 21 * 60 + 30, clock: .fixed(at: evening)), pool: db.pool,
                                          relay: nil, logger: .init(label: "test"))
            let other = ReportSchedule(settings: ReportSettings(publishAt: 21 * 60 + 30, clock: .fixed(at: evening)), pool: db.pool,
                                       relay: nil, logger: .init(label: "test"))
            async let a = schedule.publishIfDue()
            async let b = other.publishIfDue()
            let results = try await [a, b]
            #expect(results.compactMap { $0 }.sorted() == [4], "one copy published the four reports, the other found the day claimed")
            #expect(try await db.count("SELECT count(*) FROM outbox WHERE message_id LIKE 'scheduled/%'") == 4)
            #expect(try await db.strings("SELECT day || ' ' || reports FROM report_runs") == ["2028-11-17 4"])
        }
    }

    @Test func theDossierShowsTheConstituencyAsTheWarRoomNeedsIt() async throws {
        try await FreshDatabase.with("reports") { db in
            try await db.pool.withConnection { try $0.executeScript(Self.setup) }
            try await db.handle(batch: CallOutcomeHandler(), Self.outcomes)
            let dossier = try await db.pool.withConnection { connection in
                try Dossiers.build(constituency: "AC-1", election: nil, party: "BJP", day: Self.day, districtLevel: "district",
                                   generatedAt: Self.morning, on: connection)
            }
            #expect(dossier.reportID == "dossier/2028-11-17/AC-1" && dossier.district == "D1" && dossier.constituency.state == "S")
            #expect(dossier.election == "AE2023", "the latest election with results there")
            #expect(dossier.counts == .init(booths: 2, voters: 2, beneficiaries: 2, people: 4))
            #expect(dossier.booths == [
                .init(booth: "B-1", name: "Booth 1", electors: nil, polled: 800, votes: 300, rival: "INC", rivalVotes: 400, margin: -100, share: 0.375),
                .init(booth: "B-2", name: "Booth 2", electors: nil, polled: 800, votes: 500, rival: "INC", rivalVotes: 300, margin: 200, share: 0.625),
            ])
            #expect(dossier.weakBooths.map(\.booth) == ["B-1"])
            #expect(dossier.people.map { "\($0.name) \($0.level) \($0.role)" }
                    == ["Pratap ac ac_president", "Prem booth booth_member", "Pushpa booth booth_president", "Pawan booth booth_president"],
                    "the constituency's own office-bearers first, then by unit and role")
            #expect(dossier.committees == [.init(level: "ac", committees: 1, reachedTwo: 0), .init(level: "booth", committees: 2, reachedTwo: 1)])
            let json = String(decoding: try MessageCoding.encode(dossier), as: UTF8.self)
            #expect(!json.contains("+91"), "no phone number in a dossier")
        }
    }
}
