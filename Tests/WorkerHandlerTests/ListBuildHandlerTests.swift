import Foundation
import Testing
import SamparkTestSupport
import IngestWorker
import ListBuilder
import SamparkCore
import SamparkPostgres
@testable import SamparkRuntime

/// The list-builder's handler on a fresh database loaded through the ingest path: every kind
/// of campaign on data whose right answer is worked out by hand in the comments, with its
/// suppression, household cap, centre assignment and report.
@Suite struct ListBuildHandlerTests {
    // MARK: The world every test starts from

    /// CG > DRG > AC-62 > M-1 > SK-1 > B-1, B-2; M-1 > SK-2 > B-3; DRG > AC-63 > B-4;
    /// CG > RPR > AC-50 > B-5. Centres: DRG-A (region DRG, 30 seats, hi) and DRG-B (region
    /// AC-62, 10 seats, hi and hne). Nobody covers RPR.
    static let tree = """
        level,code,name,parent_code
        state,CG,Chhattisgarh,
        district,DRG,Durg,CG
        ac,AC-62,Durg Gramin,DRG
        mandal,M-1,Mandal 1,AC-62
        shakti_kendra,SK-1,Shakti kendra 1,M-1
        booth,B-1,Booth 1,SK-1
        booth,B-2,Booth 2,SK-1
        shakti_kendra,SK-2,Shakti kendra 2,M-1
        booth,B-3,Booth 3,SK-2
        ac,AC-63,Durg City,DRG
        booth,B-4,Booth 4,AC-63
        district,RPR,Raipur,CG
        ac,AC-50,Raipur West,RPR
        booth,B-5,Booth 5,AC-50

        """

    static let centres = """
        code,name,region_codes,seats,shifts,languages
        DRG-A,Durg A,DRG,30,09:00-21:00,hi
        DRG-B,Durg B,AC-62,10,09:00-21:00,hi;hne

        """

    /// 17 contacts (ids 1-17 in this order): `V1`-`V8` in B-1 (hi, ujjwala); `N1`, `N2` in B-2
    /// (hne, ujjwala); `C1` in B-4 (hi, ujjwala); `R1` in B-5 (ujjwala, no centre); `H1`-`H3`
    /// in B-3 sharing one phone (hi, ujjwala); `Opted` in B-1 (ujjwala, opted out); `Landline`
    /// in B-1 (ujjwala); and `Kisan` in B-1 (pm_kisan only).
    static let contacts: String = {
        var lines = ["name,phone,booth_code,language,schemes"]
        for i in 1...8 { lines.append("V\(i),90000000\(String(format: "%02d", i)),B-1,hi,ujjwala") }
        lines.append("N1,9000000011,B-2,hne,ujjwala")
        lines.append("N2,9000000012,B-2,hne,ujjwala")
        lines.append("C1,9000000013,B-4,hi,ujjwala")
        lines.append("R1,9000000014,B-5,hi,ujjwala")
        for i in 1...3 { lines.append("H\(i),9000000015,B-3,hi,ujjwala") }
        lines.append("Opted,9000000016,B-1,hi,ujjwala")
        lines.append("Landline,0771-2345678,B-1,hi,ujjwala")
        lines.append("Kisan,9000000017,B-1,hi,pm_kisan")
        return lines.joined(separator: "\n") + "\n"
    }()

    static let optOuts = "phone,source\n9000000016,helpline\n"

    /// A fresh database holding the world above.
    static func world(_ body: (FreshDatabase) async throws -> Void) async throws {
        try await FreshDatabase.with("lists") { db in
            for (source, csv) in [(IngestSource.orgUnits, tree), (.callCentres, centres), (.contacts, contacts), (.optOuts, optOuts)] {
                let report = try await db.load(source, csv)
                #expect(report.counts.rejected == 0, "\(source.rawValue): \(report.firstRejects)")
            }
            try await body(db)
        }
    }

    static func request(_ id: String, _ kind: CampaignKind, campaign: String, name: String? = "Campaign", recallDays: Int? = nil,
                        material: String? = nil, _ audience: ListBuildRequest.Audience) -> ListBuildRequest {
        ListBuildRequest(requestID: id, kind: kind,
                         campaign: .init(code: campaign, name: name, recallDays: recallDays, material: material), audience: audience)
    }

    /// Runs the handler and returns the `list.ready` it put in the outbox.
    @discardableResult
    static func build(_ db: FreshDatabase, _ request: ListBuildRequest, messageID: String = UUID().uuidString,
                      handler: ListBuildHandler = ListBuildHandler()) async throws -> ListReady {
        try await db.handle(handler, request, messageID: messageID, replyTo: "reply-queue")
        let body = try await db.pool.query("SELECT body FROM outbox WHERE message_id = $1", ["\(messageID)/reply"])
        return try MessageCoding.decode(ListReady.self, from: Array(try #require(body.first).decode(Data.self, at: 0)))
    }

    static func suppressed(_ ready: ListReady) -> String {
        ready.suppressed.map { "\($0.name) \($0.count)" }.joined(separator: ", ")
    }

    static func centres(_ ready: ListReady) -> String {
        ready.centres.map { "\($0.name) \($0.count)" }.joined(separator: ", ")
    }

    /// The list's entries as "name centre", in contact or person id order.
    static func entries(_ db: FreshDatabase, list: Int64) async throws -> [String] {
        try await db.strings("""
            SELECT coalesce(c.name, p.name) || ' ' || cc.code FROM list_entries e JOIN call_centres cc ON cc.id = e.centre_id
            LEFT JOIN contacts c ON c.id = e.contact_id LEFT JOIN people p ON p.id = e.person_id
            WHERE e.list_id = \(list) ORDER BY coalesce(e.contact_id, e.person_id)
            """)
    }

    // MARK: Beneficiary feedback: suppression, households, assignment

    @Test func beneficiaryFeedbackSuppressesAssignsAndCountsEveryContact() async throws {
        try await Self.world { db in
            let ready = try await Self.build(db, Self.request("r1", .schemeFeedback, campaign: "UJJ", .init(scope: "CG", schemes: ["ujjwala"])))
            // 17 ujjwala contacts chosen (Kisan is not one). Off the list: the landline, the
            // opted-out number, H2 and H3 (household cap 1: H1 has the lowest id), and R1
            // (B-5: no centre covers Raipur).
            #expect(ready.audience == 17)
            #expect(Self.suppressed(ready) == "landline 1, opted_out 1, household_cap 2, no_centre 1")
            #expect(ready.entries == 12 && ready.audience == ready.entries + ready.suppressed.reduce(0) { $0 + $1.count })
            #expect(ready.uncovered == [.init("B-5", 1)])
            // Assignment. AC-62's hindi speakers (V1-V8, H1, in id order) may go to DRG-A (30
            // seats) or DRG-B (10): a cycle of 40 slots, A's at (k+0.5)/30, B's at (k+0.5)/10,
            // so the order runs A A B A A A B A A …: V3 and V7 go to B. N1 and N2 speak hne:
            // only B does. C1 (AC-63) has only A.
            #expect(try await Self.entries(db, list: ready.listID) == [
                "V1 DRG-A", "V2 DRG-A", "V3 DRG-B", "V4 DRG-A", "V5 DRG-A", "V6 DRG-A", "V7 DRG-B", "V8 DRG-A",
                "N1 DRG-B", "N2 DRG-B", "C1 DRG-A", "H1 DRG-A",
            ])
            #expect(Self.centres(ready) == "DRG-A 8, DRG-B 4")
            #expect(try await db.count("SELECT count(*) FROM call_lists WHERE ready IS NOT NULL AND entries = 12") == 1)
            #expect(try await db.count("SELECT count(*) FROM outbox WHERE type = 'list.ready.v2' AND routing_key = 'list.ready'") == 1)
        }
    }

    // MARK: Repeats, determinism, and the rules that read earlier calls

    @Test func aRepeatedRequestIdAnswersWithTheSameListAndBuildsNoOther() async throws {
        try await Self.world { db in
            let request = Self.request("same-id", .schemeFeedback, campaign: "UJJ", .init(scope: "CG", schemes: ["ujjwala"]))
            let first = try await Self.build(db, request, messageID: "m1")
            let again = try await Self.build(db, request, messageID: "m2")
            #expect(again == first)
            #expect(try await db.count("SELECT count(*) FROM call_lists") == 1)
            #expect(try await db.count("SELECT count(*) FROM list_entries") == 12)
            #expect(try await db.count("SELECT count(*) FROM outbox WHERE routing_key = 'list.ready'") == 1, "announced once")

            // The same id for another request is refused, naming the field.
            var other = request
            other.audience.scope = "DRG"
            let error = await #expect(throws: HandlerError.self) { try await Self.build(db, other, messageID: "m3") }
            #expect(error?.description.hasPrefix("request_id: was used for another request") == true, "\(String(describing: error))")
            #expect(try await db.count("SELECT count(*) FROM call_lists") == 1)
        }
    }

    @Test func theSameRequestOverTheSameDataBuildsTheSameList() async throws {
        try await Self.world { db in
            let audience = ListBuildRequest.Audience(scope: "CG", schemes: ["ujjwala"])
            let one = try await Self.build(db, Self.request("a", .schemeFeedback, campaign: "ONE", audience))
            let two = try await Self.build(db, Self.request("b", .schemeFeedback, campaign: "TWO", audience))
            #expect(one.hash == two.hash && one.hash != "0000000000000000")
            #expect(one.entries == two.entries && one.suppressed == two.suppressed && one.centres == two.centres)
            let first = try await Self.entries(db, list: one.listID), second = try await Self.entries(db, list: two.listID)
            #expect(first == second)
            // Another list gives another hash: the hash does depend on the entries.
            let other = try await Self.build(db, Self.request("c", .schemeFeedback, campaign: "THREE", .init(scope: "AC-62", schemes: ["ujjwala"])))
            #expect(other.hash != one.hash)
        }
    }

    @Test func numbersOnAnActiveListRecentlyCalledOrFoundWrongAreLeftOut() async throws {
        try await Self.world { db in
            let audience = ListBuildRequest.Audience(scope: "CG", schemes: ["ujjwala"])
            let first = try await Self.build(db, Self.request("first", .schemeFeedback, campaign: "UJJ", audience))
            #expect(first.entries == 12)

            // The same campaign again: everyone placed is on its active list, and H2 and H3
            // share H1's phone; R1 was never placed (no centre), so it meets the same rule.
            let second = try await Self.build(db, Self.request("second", .schemeFeedback, campaign: "UJJ", audience))
            #expect(second.entries == 0)
            #expect(Self.suppressed(second) == "landline 1, opted_out 1, on_active_list 14, no_centre 1")

            // V1 was called an hour ago (connected); V2's number was found wrong last month.
            try await db.pool.execute("""
                INSERT INTO attempts (entry_id, centre_id, agent, result, started_at, ended_at, message_id)
                SELECT e.id, e.centre_id, 'agent-1', CASE c.name WHEN 'V1' THEN 'connected' ELSE 'wrong_number' END,
                       now() - CASE c.name WHEN 'V1' THEN interval '1 hour' ELSE interval '30 days' END,
                       now() - CASE c.name WHEN 'V1' THEN interval '1 hour' ELSE interval '30 days' END + interval '1 minute',
                       'attempt-' || c.name
                FROM list_entries e JOIN contacts c ON c.id = e.contact_id WHERE e.list_id = $1 AND c.name IN ('V1', 'V2')
                """, [first.listID])
            // A campaign that leaves out numbers called within 7 days: V1 is; V2 is out anyway.
            let recall = try await Self.build(db, Self.request("recall", .schemeFeedback, campaign: "RECALL", recallDays: 7, audience))
            #expect(Self.suppressed(recall) == "landline 1, opted_out 1, wrong_number 1, recently_called 1, household_cap 2, no_centre 1")
            #expect(recall.entries == 10)
            // Without a recall window V1 is called again.
            let noRecall = try await Self.build(db, Self.request("no-recall", .schemeFeedback, campaign: "NO-RECALL", audience))
            #expect(Self.suppressed(noRecall) == "landline 1, opted_out 1, wrong_number 1, household_cap 2, no_centre 1")
            #expect(noRecall.entries == 11)
        }
    }

    /// Two builds of one campaign at once: the first is held open before its commit; the
    /// second waits for it (the campaign's row lock), then finds every number the first placed
    /// on an active list of the campaign. Without the lock it would read past the first's
    /// uncommitted entries and call them all again.
    @Test func aListWaitsForAnotherOfItsCampaignAndLeavesOutItsNumbers() async throws {
        try await Self.world { db in
            try await db.pool.execute("INSERT INTO campaigns (code, kind, name) VALUES ('UJJ', 'scheme_feedback', 'Campaign')")
            let audience = ListBuildRequest.Audience(scope: "CG", schemes: ["ujjwala"])
            let holding = Flag()
            let first = Task {
                try await db.pool.withConnection { conn -> Bool in
                    try conn.execute("BEGIN")
                    let context = HandlerContext(connection: conn, messageID: "first", messageType: ListBuildRequest.messageType,
                                                 correlationID: nil, replyTo: nil, queue: "test", appID: "test")
                    try ListBuildHandler().handle(Self.request("first", .schemeFeedback, campaign: "UJJ", name: nil, audience),
                                                  context: context)
                    holding.set()
                    // Commit once another transaction waits for one of this one's locks.
                    var sawWaiter = false
                    for _ in 0..<600 where !sawWaiter {
                        sawWaiter = try conn.query("SELECT count(*) FROM pg_locks WHERE NOT granted")[0].decode(Int.self, at: 0) > 0
                        if !sawWaiter { Thread.sleep(forTimeInterval: 0.05) }
                    }
                    try conn.execute("COMMIT")
                    return sawWaiter
                }
            }
            while !holding.isSet { try await Task.sleep(for: .milliseconds(20)) }
            let second = try await Self.build(db, Self.request("second", .schemeFeedback, campaign: "UJJ", name: nil, audience))
            #expect(try await first.value, "the second build waited for the first's lock on the campaign")
            #expect(Self.suppressed(second) == "landline 1, opted_out 1, on_active_list 14, no_centre 1")
            #expect(second.entries == 0)
            #expect(try await db.count("SELECT count(*) FROM list_entries") == 12, "each number placed once")
        }
    }

    @Test func aHouseholdCapOfTwoCallsTwoMembersOfAHousehold() async throws {
        try await Self.world { db in
            let request = ListBuildRequest(requestID: "cap", kind: .schemeFeedback,
                                           campaign: .init(code: "CAP2", name: "Two per phone", householdCap: 2),
                                           audience: .init(scope: "SK-2", schemes: ["ujjwala"]))
            let ready = try await Self.build(db, request)
            #expect(ready.audience == 3 && ready.entries == 2)
            #expect(Self.suppressed(ready) == "household_cap 1")
            let names = try await Self.entries(db, list: ready.listID)
            #expect(names == ["H1 DRG-A", "H2 DRG-A"], "\(names)")
        }
    }

    // MARK: The organisation's people

    /// Booth workers: three in B-1 (P1-P3), one in B-2 (Q1), none in B-3, two in B-4 (R1,
    /// R2), two in B-5 (S1, S2: no centre); a mandal president; three candidates.
    static let people = """
        name,phones,role,unit_code,committee
        P1,9100000001,booth_worker,B-1,booth committee
        P2,9100000002,booth_worker,B-1,booth committee
        P3,9100000003,booth_worker,B-1,booth committee
        Q1,9100000004,booth_worker,B-2,booth committee
        R1,9100000005,booth_worker,B-4,booth committee
        R2,9100000006,booth_worker,B-4,booth committee
        S1,9100000007,booth_worker,B-5,booth committee
        S2,9100000008,booth_worker,B-5,booth committee
        M1,9100000009,mandal_president,M-1,mandal committee
        K1,9100000010,shakti_kendra_incharge,SK-1,shakti kendra
        K2,9100000011,shakti_kendra_incharge,SK-2,shakti kendra
        Cand62,9100000012,candidate,AC-62,
        Cand63,9100000013,candidate,AC-63,
        Cand50,9100000014,candidate,AC-50,

        """

    @Test func committeeCoverageCallsTwoOfEveryCommitteeThoseNotYetReachedFirst() async throws {
        try await Self.world { db in
            try await db.load(.people, Self.people)
            // Outreach to every booth worker: 8 chosen, S1 and S2 have no centre.
            let all = try await Self.build(db, Self.request("all", .committeeReach, campaign: "BOOTHS",
                                                            .init(scope: "CG", levels: ["booth"], roles: ["booth_worker"])))
            #expect(all.audience == 8 && all.entries == 6 && Self.suppressed(all) == "no_centre 2")
            #expect(all.uncovered == [.init("B-5", 2)])
            // P1 was reached on that list.
            try await db.pool.execute("""
                INSERT INTO attempts (entry_id, centre_id, agent, result, started_at, ended_at, message_id)
                SELECT e.id, e.centre_id, 'agent-1', 'connected', now() - interval '2 days', now() - interval '2 days', 'a-p1'
                FROM list_entries e JOIN people p ON p.id = e.person_id WHERE p.name = 'P1'
                """)
            // Two per booth committee: B-1 gets P2 and P3 (P1 was reached), B-2 has only Q1,
            // B-3 nobody, B-4 both; B-5's two are chosen but no centre covers them.
            let two = try await Self.build(db, Self.request("two", .committeeReach, campaign: "COVER",
                                                            .init(scope: "CG", levels: ["booth"], perCommittee: 2)))
            #expect(try await Self.entries(db, list: two.listID).map { $0.split(separator: " ")[0] } == ["P2", "P3", "Q1", "R1", "R2"])
            #expect(Self.suppressed(two) == "over_committee_quota 1, no_centre 2")
            #expect(two.audience == 8 && two.entries == 5)
            #expect(two.shortCommittees == [.init("B-3", 0), .init("B-2", 1)] && two.shortCommitteesTotal == 2)
        }
    }

    @Test func aRelayCarriesTheMaterialCurrentForEachUnit() async throws {
        try await Self.world { db in
            try await db.load(.people, Self.people)
            // Version 1 for all of AC-62, version 2 for SK-1 only.
            for (version, scope) in [(1, "AC-62"), (2, "SK-1")] {
                try await db.handle(MaterialHandler(), MaterialPublished(id: "MKB", version: version, title: "Mann Ki Baat",
                                                                         scripts: ["hi": "Namaskar \(version)"], scope: [scope]))
            }
            let ready = try await Self.build(db, Self.request("relay", .relay, campaign: "RELAY", material: "MKB", .init(scope: "DRG")))
            // Mandal, shakti kendra and booth people of DRG: M1, K1, K2, P1-P3, Q1, R1, R2.
            // R1 and R2 (AC-63) are outside the material's scope.
            #expect(ready.audience == 9 && ready.entries == 7)
            #expect(Self.suppressed(ready) == "outside_material_scope 2")
            let carried = try await db.strings("""
                SELECT p.name || ' v' || e.material_version FROM list_entries e JOIN people p ON p.id = e.person_id
                WHERE e.list_id = \(ready.listID) AND e.material_code = 'MKB' ORDER BY p.id
                """)
            #expect(carried == ["P1 v2", "P2 v2", "P3 v2", "Q1 v2", "M1 v1", "K1 v2", "K2 v1"])
        }
    }

    @Test func candidatesOfChosenUnitsOrOfTheWholeScope() async throws {
        try await Self.world { db in
            try await db.load(.people, Self.people)
            let some = try await Self.build(db, Self.request("c1", .candidates, campaign: "CANDS", .init(scope: "CG", units: ["AC-62"])))
            #expect(try await Self.entries(db, list: some.listID) == ["Cand62 DRG-A"])
            let every = try await Self.build(db, Self.request("c2", .candidates, campaign: "CANDS-ALL", .init(scope: "CG")))
            #expect(every.audience == 3 && every.entries == 2 && every.uncovered == [.init("AC-50", 1)])
        }
    }

    // MARK: Weak booths and polling day

    @Test func weakBoothsAreWorkedWeakestFirst() async throws {
        try await Self.world { db in
            // B-1 lost (300 to 400); B-2 won with 52.6%; B-3 has exactly 50%; B-4 has 35%
            // (a tie with BSP is no loss); B-5 won.
            try await db.load(.boothResults, """
                election,booth_code,party,votes
                AE2023,B-1,BJP,300
                AE2023,B-1,INC,400
                AE2023,B-2,BJP,500
                AE2023,B-2,INC,450
                AE2023,B-3,BJP,300
                AE2023,B-3,INC,200
                AE2023,B-3,IND,100
                AE2023,B-4,BJP,350
                AE2023,B-4,INC,300
                AE2023,B-4,BSP,350
                AE2023,B-5,BJP,100
                AE2023,B-5,INC,50

                """)
            let ready = try await Self.build(db, Self.request("weak", .weakBooth, campaign: "WEAK",
                                                              .init(scope: "CG", election: "AE2023", party: "BJP", shareBelow: 0.5)))
            // B-4 (35%) first, then B-1 (42.9%, lost). B-1 holds 11 contacts, B-4 one.
            #expect(ready.audience == 12 && ready.entries == 10 && Self.suppressed(ready) == "landline 1, opted_out 1")
            let priorities = try await db.strings("""
                SELECT b.code || ' ' || e.priority || ' ' || count(*) FROM list_entries e JOIN contacts c ON c.id = e.contact_id
                JOIN org_units b ON b.id = c.booth_id WHERE e.list_id = \(ready.listID) GROUP BY b.code, e.priority ORDER BY e.priority
                """)
            #expect(priorities == ["B-4 1 1", "B-1 2 9"])
            // Without a threshold only the booth the party lost.
            let lost = try await Self.build(db, Self.request("lost", .weakBooth, campaign: "LOST",
                                                             .init(scope: "CG", election: "AE2023", party: "BJP")))
            #expect(lost.audience == 11 && lost.entries == 9)
        }
    }

    @Test func pollingDayCallsTheVotersNotYetMarkedLaggingBoothsFirst() async throws {
        try await Self.world { db in
            try await db.load(.pollCalendar, """
                constituency_code,phase,poll_date,poll_close,election
                AC-62,2,2028-11-17,17:00,AE2028
                AC-63,3,2028-11-25,17:00,AE2028

                """)
            // V1 and V2 (B-1) have voted.
            try await db.pool.execute("""
                INSERT INTO turnout_marks (contact_id, voted_at, source)
                SELECT id, now(), 'test' FROM contacts WHERE name IN ('V1', 'V2')
                """)
            let ready = try await Self.build(db, Self.request("gotv", .getOutTheVote, campaign: "GOTV",
                                                              .init(scope: "CG", pollDate: "2028-11-17")))
            // AC-62 polls that day: B-1 (11 contacts, 2 voted), B-2 (2), B-3 (3). Not yet voted:
            // 9 + 2 + 3. B-2 and B-3 have no turnout yet (B-2 first by id), B-1 has 2 in 11.
            #expect(ready.audience == 14 && ready.entries == 10)
            #expect(Self.suppressed(ready) == "landline 1, opted_out 1, household_cap 2")
            let priorities = try await db.strings("""
                SELECT b.code || ' ' || e.priority FROM list_entries e JOIN contacts c ON c.id = e.contact_id
                JOIN org_units b ON b.id = c.booth_id WHERE e.list_id = \(ready.listID) GROUP BY b.code, e.priority ORDER BY e.priority
                """)
            #expect(priorities == ["B-2 1", "B-3 2", "B-1 3"])
            #expect(try await db.count("SELECT count(*) FROM list_entries e JOIN turnout_marks t USING (contact_id) WHERE e.list_id = \(ready.listID)") == 0)
        }
    }

    // MARK: Bad requests

    @Test func aBadRequestIsRefusedNamingWhatIsWrongAndLeavesNothing() async throws {
        try await Self.world { db in
            try await db.load(.people, Self.people)
            let cases: [(ListBuildRequest, String)] = [
                (Self.request("b1", .schemeFeedback, campaign: "X", .init(scope: "AC-999", schemes: ["ujjwala"])), "audience.scope: no unit has code 'AC-999'"),
                (Self.request("b2", .committeeReach, campaign: "X", .init(scope: "CG", levels: ["sector"])), "audience.levels: no unit has level 'sector'"),
                (Self.request("b3", .schemeFeedback, campaign: "X", .init(scope: "CG", schemes: ["no_such"])), "audience.schemes: no contact benefits from scheme 'no_such'"),
                (Self.request("b4", .weakBooth, campaign: "X", .init(scope: "CG", election: "GE1952", party: "BJP")), "audience.election: no booth result is of election 'GE1952'"),
                (Self.request("b5", .schemeFeedback, campaign: "NEW", name: nil, .init(scope: "CG", schemes: ["ujjwala"])), "campaign.code: no campaign has code 'NEW'"),
                (Self.request("b6", .schemeFeedback, campaign: "X", .init(scope: "CG", levels: ["booth"], schemes: ["ujjwala"])), "audience.levels: is not used by scheme_feedback lists"),
                (Self.request("b7", .committeeReach, campaign: "X", .init(scope: "CG", levels: ["booth"], perCommittee: 1)), "audience.per_committee: is not a whole number from 2 to 50"),
                (Self.request("b8", .relay, campaign: "X", .init(scope: "CG")), "campaign.material: is missing"),
                (Self.request("b9", .relay, campaign: "X", material: "NOPE", .init(scope: "CG")), "campaign.material: no material has code 'NOPE'"),
                (Self.request("b10", .getOutTheVote, campaign: "X", .init(scope: "CG", pollDate: "2028-02-30")), "audience.poll_date: is not a date"),
                (Self.request("b11", .getOutTheVote, campaign: "X", .init(scope: "CG", pollDate: "2028-02-28")), "audience.poll_date: no constituency in or above 'CG' polls on 2028-02-28"),
                (Self.request("b12", .candidates, campaign: "X", .init(scope: "CG", units: ["AC-62", "9827012345"])), "audience.units: no unit has code (not shown"),
                (Self.request("b13", .schemeFeedback, campaign: "X", .init(scope: "CG")), "audience.schemes: is missing or empty"),
                (Self.request("b14", .getOutTheVote, campaign: "X", .init(scope: "CG", election: "GE1952", pollDate: "2028-11-17")), "audience.election: the poll calendar has no election 'GE1952'"),
            ]
            for (request, expected) in cases {
                let error = await #expect(throws: HandlerError.self, "\(request.requestID)") { try await Self.build(db, request) }
                #expect(error?.description.hasPrefix(expected) == true, "\(request.requestID): \(String(describing: error))")
            }
            #expect(try await db.count("SELECT count(*) FROM call_lists") == 0, "nothing half-built remains")
            #expect(try await db.count("SELECT count(*) FROM campaigns") == 0)
            #expect(try await db.count("SELECT count(*) FROM list_entries") == 0)
            #expect(try await db.count("SELECT count(*) FROM outbox WHERE type LIKE 'list.%'") == 0)

            // A campaign's kind and settings are its own: another request cannot change them.
            try await Self.build(db, Self.request("ok", .schemeFeedback, campaign: "UJJ", recallDays: 3, .init(scope: "CG", schemes: ["ujjwala"])))
            for (request, expected) in [
                (Self.request("k1", .weakBooth, campaign: "UJJ", name: nil, .init(scope: "CG", election: "E", party: "P")), "kind: campaign 'UJJ' is a scheme_feedback campaign"),
                (Self.request("k2", .schemeFeedback, campaign: "UJJ", name: nil, recallDays: 5, .init(scope: "CG", schemes: ["ujjwala"])), "campaign.recall_days: campaign 'UJJ' has 3"),
                (Self.request("k3", .schemeFeedback, campaign: "UJJ", name: "Another name", .init(scope: "CG", schemes: ["ujjwala"])), "campaign.name: differs from the name campaign 'UJJ' has"),
            ] {
                let error = await #expect(throws: HandlerError.self) { try await Self.build(db, request) }
                #expect(error?.description.hasPrefix(expected) == true, "\(String(describing: error))")
            }
        }
    }

    /// A number erased on request stays off the next list by its keyed hash, even after the
    /// same roll is loaded again; an erasure with another hash key than the one the numbers
    /// were stored with is refused (docs/security.md).
    @Test func anErasedNumberStaysOffTheListAndOnlyTheRightKeyErases() async throws {
        try await Self.world { db in
            let erased = TestPhones.hash("+919000000001")
            let refused = await #expect(throws: PostgresError.self) {
                try await db.pool.query("SELECT sampark_erase('+919000000001', $1, 'test desk', 'the citizen asked')",
                                        ["another-key-of-enough-length-0123456789"])
            }
            #expect(refused?.message.hasPrefix("SAMPARK_PHONE_HASH_KEY is not the key") == true, "\(String(describing: refused))")
            #expect(try await db.count("SELECT count(*) FROM contacts WHERE phone_hash = \(erased)") == 1, "nothing erased")
            try await db.pool.query("SELECT sampark_erase('+919000000001', $1, 'test desk', 'the citizen asked')", [TestPhones.hashKey])
            #expect(try await db.count("SELECT count(*) FROM contacts WHERE phone_hash = \(erased)") == 0)
            // The roll again: V1 is back in contacts.
            try await db.load(.contacts, Self.contacts)
            #expect(try await db.count("SELECT count(*) FROM contacts WHERE phone_hash = \(erased)") == 1)
            let ready = try await Self.build(db, Self.request("ok", .schemeFeedback, campaign: "UJJ-ok", .init(scope: "CG", schemes: ["ujjwala"])))
            #expect(try await db.count("SELECT count(*) FROM list_entries WHERE phone_hash = \(erased)") == 0)
            #expect(ready.suppressed.first { $0.name == "opted_out" }?.count == 2, "Opted, and V1 by its hash: \(Self.suppressed(ready))")
        }
    }

    /// Hostile text in a list request (issue 9): a campaign's name and a request id are stored
    /// verbatim, a hostile scope or scheme is refused by name; nothing is ever executed.
    @Test func hostileTextInAListRequestIsStoredVerbatimOrRefused() async throws {
        try await Self.world { db in
            let contacts = try await db.count("SELECT count(*) FROM contacts")
            let name = HostileInputTests.hostile[0], id = HostileInputTests.hostile[3]
            let ready = try await Self.build(db, Self.request(id, .schemeFeedback, campaign: "HOSTILE", name: name,
                                                              .init(scope: "CG", schemes: ["ujjwala"])))
            #expect(ready.requestID == id)
            #expect(try await db.strings("SELECT name FROM campaigns WHERE code = 'HOSTILE'") == [name])
            #expect(try await db.strings("SELECT request_id FROM call_lists") == [id])
            for (i, text) in HostileInputTests.hostile.prefix(5).enumerated() {
                let error = await #expect(throws: HandlerError.self) {
                    try await Self.build(db, Self.request("h-scope-\(i)", .schemeFeedback, campaign: "HOSTILE", name: nil,
                                                          .init(scope: text, schemes: ["ujjwala"])))
                }
                // Looked up and not found, or (control characters, a mark at an end) refused as it is.
                let reason = error?.description ?? ""
                #expect(reason.hasPrefix("audience.scope: no unit has code")
                        || reason == "audience.scope: is empty, longer than 100 characters, or has spaces at its ends or control characters", "\(reason)")
                let scheme = await #expect(throws: HandlerError.self) {
                    try await Self.build(db, Self.request("h-scheme-\(i)", .schemeFeedback, campaign: "HOSTILE", name: nil,
                                                          .init(scope: "CG", schemes: [text])))
                }
                let schemeReason = scheme?.description ?? ""
                #expect(schemeReason.hasPrefix("audience.schemes: no contact benefits from scheme")
                        || schemeReason == "audience.schemes[0]: is empty, longer than 100 characters, or has spaces at its ends or control characters",
                        "\(schemeReason)")
            }
            #expect(try await db.count("SELECT count(*) FROM contacts") == contacts, "nothing executed")
            #expect(try await db.count("SELECT count(*) FROM opt_outs") == 1)
        }
    }

    /// An audience field the request's schema does not know is refused by name: a typo must
    /// not quietly widen a list.
    @Test func anUnknownAudienceFieldIsRefusedByName() throws {
        let body = Array(#"{"request_id": "r", "kind": "committee_reach", "campaign": {"code": "C"}, "audience": {"scope": "CG", "levels": ["booth"], "per_comittee": 2}}"#.utf8)
        let error = #expect(throws: DecodingError.self) { try MessageCoding.decode(ListBuildRequest.self, from: body) }
        #expect(error.map(describeDecodingFailure) == "audience.per_comittee is not a field of an audience")
    }
}
