import Foundation
import Logging
import Testing
import DialerDispatcher
import SamparkCore
import SamparkPostgres
@testable import SamparkRuntime
import SamparkSchema
import SamparkTestSupport

/// The dispatcher's rules on a fresh database at exact instants (a clock standing still):
/// calling hours at their edges, the silence period phase by phase, polling day, a late
/// opt-out, a voter marked as voted, the attempts rule and retry spacing, pacing, and two
/// dispatchers on one centre.
///
/// The network: state S; AC-1 (booth B-1) polls on 2028-11-17 (phase 1), AC-2 (booth B-2) on
/// 2028-11-24 (phase 2), both closing at 18:00 IST; one centre C1 for the whole state, 10
/// seats, open 08:00-22:00, speaking Hindi.
@Suite struct DispatchTests {
    /// An IST moment.
    static func ist(_ text: String) -> Date {
        ISO8601DateFormatter().date(from: text + "+05:30")!
    }

    static let setup = """
        INSERT INTO org_units (id, level, code, name, parent_id, path, state_id) VALUES
            (1, 'state', 'S', 'State', NULL, '1', 1),
            (2, 'ac', 'AC-1', 'AC 1', 1, '1.2', 1), (3, 'ac', 'AC-2', 'AC 2', 1, '1.3', 1),
            (4, 'booth', 'B-1', 'Booth 1', 2, '1.2.4', 1), (5, 'booth', 'B-2', 'Booth 2', 3, '1.3.5', 1);
        INSERT INTO call_centres (id, code, name, seats, calls_from, calls_to, shifts, languages)
            VALUES (1, 'C1', 'Centre', 10, '08:00', '22:00', '{08:00-22:00}', '{hi}');
        INSERT INTO call_centre_regions (centre_id, unit_id) VALUES (1, 1);
        INSERT INTO poll_calendar (constituency_id, election, phase, poll_date, poll_closes_at) VALUES
            (2, 'AE2028', 1, '2028-11-17', '2028-11-17 18:00+05:30'), (3, 'AE2028', 2, '2028-11-24', '2028-11-24 18:00+05:30');
        -- Voters 1-4 in B-1 (AC-1), 5-8 in B-2 (AC-2).
        INSERT INTO contacts (id, phone_hash, phone_sealed, phone_tail, name, booth_id, state_id, language) VALUES
            \((1...8).map { "(\($0), \(TestPhones.sql("+91980000000\($0)")), 'Voter \($0)', \($0 <= 4 ? 4 : 5), 1, 'hi')" }.joined(separator: ", "));
        INSERT INTO people (id, name, phone_hash, phone_sealed, phone_tail, role, unit_id) VALUES
            (1, 'Worker', \(TestPhones.sql("+919900000001")), 'booth_president', 4);
        """

    /// A campaign with one list holding `entries` (contact ids, or the person for an
    /// organisation campaign), all at centre C1; returns the list id.
    @discardableResult
    static func list(_ db: FreshDatabase, id: Int64, kind: CampaignKind, contacts: [Int64] = [], people: [Int64] = [],
                     pacing: Double = 1, maxAttempts: Int = 3, dialing: String = "preview", pollDate: String? = nil,
                     window: (String, String)? = nil) async throws -> Int64 {
        let spec = pollDate.map { "{\"audience\": {\"poll_date\": \"\($0)\"}}" } ?? "{}"
        try await db.pool.withConnection { conn in
            try conn.execute("""
                INSERT INTO campaigns (id, code, kind, name, pacing_ratio, max_attempts, dialing, calls_from, calls_to)
                VALUES ($1, 'K' || $1, $2, 'Campaign', $3, $4, $5, $6::time, $7::time)
                """, [id, kind.rawValue, pacing, maxAttempts, dialing, window?.0, window?.1])
            try conn.execute("INSERT INTO call_lists (id, campaign_id, spec, ready) VALUES ($1, $1, $2::jsonb, '{}')",
                             [id, PostgresJSONText(spec)])
            try conn.execute("""
                INSERT INTO list_entries (list_id, contact_id, phone_hash, phone_sealed, phone_tail, centre_id)
                SELECT $1, c.id, c.phone_hash, c.phone_sealed, c.phone_tail, 1 FROM contacts c WHERE c.id = ANY($2) ORDER BY c.id
                """, [id, contacts])
            try conn.execute("""
                INSERT INTO list_entries (list_id, person_id, phone_hash, phone_sealed, phone_tail, centre_id)
                SELECT $1, p.id, p.phone_hash, p.phone_sealed, p.phone_tail, 1 FROM people p WHERE p.id = ANY($2) ORDER BY p.id
                """, [id, people])
        }
        return id
    }

    static func agents(_ db: FreshDatabase, _ count: Int, at date: Date) async throws {
        for n in 1...count {
            try await db.handle(AgentPresenceHandler(dispatcher: dispatcher(db, at: date)),
                                AgentPresence(centre: "C1", agent: "agent-\(n)", state: .available, at: date), messageID: "login-\(n)-\(date)")
        }
    }

    /// An outbox body as the relay publishes it: with the number its row holds sealed (a
    /// gateway's offer) put in.
    static func published(_ body: Data, phoneSealed: Data?) throws -> [UInt8] {
        guard let phoneSealed else { return [UInt8](body) }
        return try OutboxRelay.body([UInt8](body), withPhone: try TestPhones.vault.open([UInt8](phoneSealed)))
    }

    static func dispatcher(_ db: FreshDatabase, at date: Date, hours: CallingHours = .standard) -> Dispatcher {
        Dispatcher(settings: DispatchSettings(hours: hours, clock: .fixed(at: date)), pool: db.pool, relay: nil, offerQueues: nil,
                   logger: Logger(label: "test"))
    }

    /// Entries as "contact state" (or "p<person> state"), in id order.
    static func states(_ db: FreshDatabase) async throws -> [String] {
        try await db.strings("""
            SELECT coalesce(contact_id::text, 'p' || person_id) || ' ' || state || coalesce(' ' || last_result, '')
            FROM list_entries ORDER BY id
            """)
    }

    static func refusals(_ db: FreshDatabase) async throws -> [String] {
        try await db.strings("SELECT reason || ' ' || calls FROM dispatch_refusals ORDER BY reason")
    }

    /// Ends every live offer (as if their calls were made) so the next fill has room again.
    static func settleAll(_ db: FreshDatabase) async throws {
        try await db.pool.execute("UPDATE offers SET state = 'answered' WHERE state = 'live'")
    }

    // MARK: Centres filled at once

    /// A round fills its centres `fillsAtOnce` at a time, each in its own transaction on its
    /// own connection: every centre gets exactly what its agents can take, only its own
    /// entries, and no entry is offered twice.
    @Test func aRoundFillsCentresAtOnceEachToItsOwnRoom() async throws {
        try await FreshDatabase.with("fills") { db in
            try await db.pool.withConnection { try $0.executeScript(Self.setup + """
                INSERT INTO call_centres (id, code, name, seats, calls_from, calls_to, shifts, languages)
                    SELECT n, 'C' || n, 'Centre ' || n, 10, '08:00', '22:00', '{08:00-22:00}', '{hi}' FROM generate_series(2, 6) n;
                INSERT INTO call_centre_regions (centre_id, unit_id) SELECT n, 1 FROM generate_series(2, 6) n;
                -- Centre c has c + 1 agents.
                INSERT INTO agents (centre_id, agent, state, changed_at)
                    SELECT c, 'agent-' || a, 'available', now() FROM generate_series(1, 6) c, generate_series(1, c + 1) a;
                INSERT INTO contacts (id, phone_hash, phone_sealed, phone_tail, name, booth_id, state_id, language)
                    SELECT i, \(TestPhones.columns("'+9197' || lpad(i::text, 8, '0')")), 'Voter ' || i, 4, 1, 'hi'
                    FROM generate_series(101, 160) i;
                """) }
            try await Self.list(db, id: 1, kind: .schemeFeedback, contacts: Array(101...160))
            // Ten entries for each centre.
            try await db.pool.execute("UPDATE list_entries SET centre_id = 1 + (contact_id - 101) / 10")
            let dispatcher = Dispatcher(settings: DispatchSettings(fillsAtOnce: 2, clock: .fixed(at: Self.ist("2028-11-01T11:00:00"))),
                                        pool: db.pool, relay: nil, offerQueues: nil, logger: Logger(label: "test"))
            let round = try await dispatcher.round()
            #expect(round.offered == 2 + 3 + 4 + 5 + 6 + 7)
            #expect(try await db.strings("SELECT centre_id || ':' || count(*) FROM offers WHERE state = 'live' GROUP BY centre_id ORDER BY centre_id")
                    == ["1:2", "2:3", "3:4", "4:5", "5:6", "6:7"])
            #expect(try await db.count("SELECT count(*) FROM offers o JOIN list_entries e ON e.id = o.entry_id WHERE e.centre_id <> o.centre_id") == 0)
            #expect(try await db.count("SELECT count(*) FROM (SELECT entry_id FROM offers GROUP BY entry_id HAVING count(*) > 1) twice") == 0)
            #expect(try await db.count("SELECT count(*) FROM list_entries WHERE state = 'offered'") == 27)
            // Full: the next round offers nothing.
            #expect(try await dispatcher.round().offered == 0)
        }
    }

    // MARK: Calling hours

    @Test func voterCallsStopAtNinePmAndOrganisationCallsRunTillTen() async throws {
        try await FreshDatabase.with("hours") { db in
            try await db.pool.withConnection { try $0.executeScript(Self.setup) }
            try await Self.agents(db, 5, at: Self.ist("2028-11-01T10:00:00"))
            try await Self.list(db, id: 1, kind: .schemeFeedback, contacts: [5, 6])
            try await Self.list(db, id: 2, kind: .committeeReach, people: [1])

            // 20:59:59 IST: the voter campaign may still call; the first voter is offered.
            var round = try await Self.dispatcher(db, at: Self.ist("2028-11-01T20:59:59")).round()
            #expect(round.offered == 3, "both voters and the worker")
            try await Self.settleAll(db)
            try await db.pool.execute("UPDATE list_entries SET state = 'pending'")
            // 21:00:00 IST: no voter call; the organisation's call still goes out.
            round = try await Self.dispatcher(db, at: Self.ist("2028-11-01T21:00:00")).round()
            #expect(round.offered == 1)
            #expect(try await db.strings("""
                SELECT e.list_id::text FROM offers o JOIN list_entries e ON e.id = o.entry_id WHERE o.state = 'live'
                """) == ["2"])
            // The voters due when the window shut are counted once, not on every round.
            #expect(round.refused == ["calling_hours": 2])
            round = try await Self.dispatcher(db, at: Self.ist("2028-11-01T21:00:05")).round()
            #expect(round.refused.isEmpty && round.offered == 0)
            #expect(try await Self.refusals(db) == ["calling_hours 2"])
            // 22:00:00 IST: the organisation's window has shut too.
            try await Self.settleAll(db)
            try await db.pool.execute("UPDATE list_entries SET state = 'pending'")
            round = try await Self.dispatcher(db, at: Self.ist("2028-11-01T22:00:00")).round()
            #expect(round.offered == 0)
            // 08:59:59 and 09:00:00: the voters' window opens on the second.
            round = try await Self.dispatcher(db, at: Self.ist("2028-11-02T08:59:59")).round()
            #expect(try await db.count("SELECT count(*) FROM offers o JOIN list_entries e ON e.id = o.entry_id WHERE o.state = 'live' AND e.list_id = 1") == 0)
            round = try await Self.dispatcher(db, at: Self.ist("2028-11-02T09:00:00")).round()
            #expect(try await db.count("SELECT count(*) FROM offers o JOIN list_entries e ON e.id = o.entry_id WHERE o.state = 'live' AND e.list_id = 1") == 2)
        }
    }

    /// An offer made a few minutes before a gate shuts expires when it shuts: a desk cannot
    /// start the call after 21:00, nor into a constituency whose silence period has begun.
    @Test func anOfferExpiresWhenItsWindowOrTheSilencePeriodBegins() async throws {
        try await FreshDatabase.with("expiry") { db in
            try await db.pool.withConnection { try $0.executeScript(Self.setup) }
            try await Self.agents(db, 5, at: Self.ist("2028-11-01T10:00:00"))
            try await Self.list(db, id: 1, kind: .schemeFeedback, contacts: [1, 5])
            _ = try await Self.dispatcher(db, at: Self.ist("2028-11-01T20:55:00")).round()
            #expect(try await db.strings("SELECT DISTINCT expires_at::text FROM offers") == ["2028-11-01 15:30:00+00"], "21:00 IST")
            try await Self.settleAll(db)
            try await db.pool.execute("UPDATE list_entries SET state = 'pending'")
            // Five minutes before AC-1's silence (18:00 on the 15th): its voter's offer lasts five
            // minutes, AC-2's the full ten.
            _ = try await Self.dispatcher(db, at: Self.ist("2028-11-15T17:55:00")).round()
            #expect(try await db.strings("""
                SELECT e.contact_id || ' ' || o.expires_at::text FROM offers o JOIN list_entries e ON e.id = o.entry_id
                WHERE o.state = 'live' ORDER BY e.contact_id
                """) == ["1 2028-11-15 12:30:00+00", "5 2028-11-15 12:35:00+00"])
        }
    }

    @Test func noVoterCallBetweenTenAndSixEvenWhenTheHoursAreWidened() {
        // An operator widens the voters' hours to 06:00-23:30; the Election Commission's bar holds.
        let wide = CallingHours(voterHours: DailyWindow("06:00-23:30")!, voterNever: DailyWindow("22:00-06:00")!,
                                organisationHours: DailyWindow("08:00-22:00")!)
        func allows(_ time: String, _ kind: CampaignKind = .schemeFeedback, campaign: String? = nil) -> Bool {
            wide.allows(kind, at: ISTTime(time)!, campaignWindow: campaign.flatMap(DailyWindow.init), centreHours: nil, centreShifts: [])
        }
        #expect(allows("21:59:59"))
        #expect(!allows("22:00:00"))
        #expect(!allows("23:00:00"))
        #expect(!allows("05:59:59"))
        #expect(allows("06:00:00"))
        // A campaign narrows its window; a centre's shifts bound it.
        #expect(!allows("09:59:59", campaign: "10:00-18:00") && allows("10:00:00", campaign: "10:00-18:00"))
        #expect(!allows("18:00:00", campaign: "10:00-18:00"))
        #expect(!CallingHours.standard.allows(.relay, at: ISTTime("12:30")!, campaignWindow: nil, centreHours: nil,
                                              centreShifts: [DailyWindow("09:00-12:00")!, DailyWindow("13:00-21:00")!]))
        #expect(CallingHours.standard.allows(.relay, at: ISTTime("13:00")!, campaignWindow: nil, centreHours: nil,
                                             centreShifts: [DailyWindow("09:00-12:00")!, DailyWindow("13:00-21:00")!]))
        // How long a window has left.
        #expect(CallingHours.standard.secondsLeft(.schemeFeedback, at: ISTTime("20:59:59")!, campaignWindow: nil, centreHours: nil,
                                                  centreShifts: []) == 1)
        #expect(CallingHours.standard.secondsLeft(.relay, at: ISTTime("12:00")!, campaignWindow: DailyWindow("10:00-13:30"), centreHours: nil,
                                                  centreShifts: []) == 5400)
        // Each instant is read in IST: 15:29:59 UTC is 20:59:59 IST.
        #expect(ISTTime(ISO8601DateFormatter().date(from: "2028-11-01T15:29:59Z")!).seconds == 20 * 3600 + 59 * 60 + 59)
    }

    // MARK: Silence period and phases

    @Test func theSilencePeriodHoldsEachPhaseForItsFortyEightHours() async throws {
        try await FreshDatabase.with("silence") { db in
            try await db.pool.withConnection { try $0.executeScript(Self.setup) }
            try await Self.agents(db, 10, at: Self.ist("2028-11-01T10:00:00"))
            try await Self.list(db, id: 1, kind: .schemeFeedback, contacts: [1, 2, 5, 6])

            // One second before AC-1's silence begins (48 h before its 18:00 close on the 17th).
            var round = try await Self.dispatcher(db, at: Self.ist("2028-11-15T17:59:59")).round()
            #expect(round.offered == 4)
            try await Self.settleAll(db)
            try await db.pool.execute("UPDATE list_entries SET state = 'pending'")
            // At 18:00:00 on the 15th AC-1 is silent; AC-2 (phase 2) is not.
            round = try await Self.dispatcher(db, at: Self.ist("2028-11-15T18:00:00")).round()
            #expect(round.offered == 2)
            #expect(round.refused == ["silence_period": 2])
            #expect(try await Self.states(db) == ["1 waiting silence_period", "2 waiting silence_period", "5 offered", "6 offered"])
            #expect(try await db.strings("SELECT DISTINCT next_attempt_at::text FROM list_entries WHERE state = 'waiting'")
                    == ["2028-11-17 12:30:00+00"], "they wait for AC-1's poll to close")
            // Nothing is offered into AC-1 up to its close; at the close the held calls come back.
            try await Self.settleAll(db)
            try await db.pool.execute("UPDATE list_entries SET state = 'pending' WHERE state = 'offered'")
            round = try await Self.dispatcher(db, at: Self.ist("2028-11-17T17:59:59")).round()
            #expect(round.released == 0 && round.offered == 2, "AC-2's voters only")
            try await Self.settleAll(db)
            round = try await Self.dispatcher(db, at: Self.ist("2028-11-17T18:00:00")).round()
            #expect(round.released == 2 && round.offered == 2, "AC-1's held calls, at its poll's close")
        }
    }

    // MARK: Polling day

    @Test func turnoutCallsRunOnlyOnTheirPollDayAndSkipVotersMarkedAsVoted() async throws {
        try await FreshDatabase.with("gotv") { db in
            try await db.pool.withConnection { try $0.executeScript(Self.setup) }
            try await Self.agents(db, 10, at: Self.ist("2028-11-01T10:00:00"))
            try await Self.list(db, id: 1, kind: .getOutTheVote, contacts: [1, 2, 3], pacing: 3, pollDate: "2028-11-17")

            // The day before: nothing goes out; the calls wait for the poll day.
            var round = try await Self.dispatcher(db, at: Self.ist("2028-11-16T10:00:00")).round()
            #expect(round.offered == 0 && round.refused == ["before_poll_day": 3])
            #expect(try await db.strings("SELECT DISTINCT next_attempt_at::text FROM list_entries") == ["2028-11-16 18:30:00+00"])
            // On the poll day (inside AC-1's silence period: a turnout check is not campaigning),
            // voter 2 has been marked as voted meanwhile.
            try await db.pool.execute("INSERT INTO turnout_marks (contact_id, voted_at, source) VALUES (2, now(), 'booth-agent')")
            round = try await Self.dispatcher(db, at: Self.ist("2028-11-17T10:00:00")).round()
            #expect(round.released == 3)
            #expect(round.offered == 2 && round.refused == ["voted": 1])
            #expect(try await Self.states(db) == ["1 offered", "2 suppressed voted", "3 offered"])
            // After the poll closes, a call that comes back due is over.
            try await Self.settleAll(db)
            try await db.pool.execute("UPDATE list_entries SET state = 'pending' WHERE contact_id = 3")
            round = try await Self.dispatcher(db, at: Self.ist("2028-11-17T18:00:00")).round()
            #expect(round.offered == 0 && round.refused == ["poll_closed": 1])
        }
    }

    /// After the poll closes, a turnout list of 20,000 voters is over: one fill judges whole
    /// batches once it meets refusals (not one entry per statement), at most twenty batches per
    /// list, and the centre's next campaign gets its agent in the same fill.
    @Test func aClosedPollsEntriesAreRefusedInBatchesAndTheNextCampaignStillGetsItsAgent() async throws {
        try await FreshDatabase.with("gotv") { db in
            try await db.pool.withConnection { try $0.executeScript(Self.setup) }
            try await db.pool.execute("""
                INSERT INTO contacts (id, phone_hash, phone_sealed, phone_tail, name, booth_id, state_id, language)
                SELECT i, \(TestPhones.columns("'+9197' || lpad(i::text, 8, '0')")), 'Voter ' || i, 4, 1, 'hi' FROM generate_series(101, 20100) i
                """)
            try await Self.agents(db, 1, at: Self.ist("2028-11-17T18:30:00"))
            try await Self.list(db, id: 1, kind: .getOutTheVote, contacts: Array(101...20100), pollDate: "2028-11-17")
            try await Self.list(db, id: 2, kind: .relay, people: [1])

            var round = try await Self.dispatcher(db, at: Self.ist("2028-11-17T18:30:00")).round()
            #expect(round.offered == 1, "the relay call, in the same round")
            #expect(round.refused == ["poll_closed": 1 + 19 * 500], "one entry, then nineteen batches of 500; the rest next round")
            #expect(try await db.count("SELECT count(*) FROM offers o JOIN list_entries e ON e.id = o.entry_id WHERE e.person_id = 1") == 1)
            try await Self.settleAll(db)
            round = try await Self.dispatcher(db, at: Self.ist("2028-11-17T18:30:01")).round()
            #expect(round.refused == ["poll_closed": 1 + 19 * 500])
            round = try await Self.dispatcher(db, at: Self.ist("2028-11-17T18:30:02")).round()
            #expect(round.refused == ["poll_closed": 20_000 - 2 * 9_501])
            #expect(try await db.count("SELECT count(*) FROM list_entries WHERE state = 'pending'") == 0)
            #expect(try await db.count("SELECT count(*) FROM offers") == 1, "not one turnout call after the poll closed")
        }
    }

    // MARK: Opt-outs, attempts, retries

    @Test func aNumberThatOptedOutASecondAgoIsNeverOffered() async throws {
        try await FreshDatabase.with("optout") { db in
            try await db.pool.withConnection { try $0.executeScript(Self.setup) }
            try await Self.agents(db, 5, at: Self.ist("2028-11-01T10:00:00"))
            try await Self.list(db, id: 1, kind: .weakBooth, contacts: [5, 6])
            // The list was built; then the first number asks not to be called.
            try await db.pool.execute("INSERT INTO opt_outs (phone_hash, source) VALUES (\(TestPhones.hash("+919800000005")), 'helpline')")
            let round = try await Self.dispatcher(db, at: Self.ist("2028-11-01T10:00:01")).round()
            #expect(round.offered == 1 && round.refused == ["opted_out": 1])
            #expect(try await Self.states(db) == ["5 suppressed opted_out", "6 offered"])
            #expect(try await db.count("SELECT count(*) FROM outbox WHERE type = 'call.offer.v2'") == 1)
        }
    }

    @Test func attemptsStopAtTheMaximumAndRetriesFollowTheDisposition() async throws {
        try await FreshDatabase.with("attempts") { db in
            try await db.pool.withConnection { try $0.executeScript(Self.setup) }
            try await Self.agents(db, 1, at: Self.ist("2028-11-01T10:00:00"))
            try await Self.list(db, id: 1, kind: .schemeFeedback, contacts: [5, 6], maxAttempts: 2)

            func outcome(_ entry: Int64, _ disposition: Disposition, at date: Date) async throws {
                let attempt = try await db.pool.query("SELECT o.id FROM offers o JOIN list_entries e ON e.id = o.entry_id WHERE o.state = 'live' AND e.contact_id = $1",
                                                      [entry])[0].decode(Int64.self, at: 0)
                let entryID = try await db.pool.query("SELECT id FROM list_entries WHERE contact_id = $1", [entry])[0].decode(Int64.self, at: 0)
                try await db.handle(OutcomeHandler(dispatcher: Self.dispatcher(db, at: date)),
                                    CallOutcome(attemptID: attempt, entryID: entryID, centre: "C1", agent: "agent-1",
                                                disposition: disposition, startedAt: date, endedAt: date))
            }
            let t0 = Self.ist("2028-11-01T10:00:00")
            // One agent: one offer at a time, the first entry first.
            var round = try await Self.dispatcher(db, at: t0).round()
            #expect(round.offered == 1)
            #expect(try await Self.states(db) == ["5 offered", "6 pending"])
            // No answer: voter 5 waits an hour; the outcome's own fill offers voter 6 at once.
            try await outcome(5, .noAnswer, at: t0)
            #expect(try await Self.states(db) == ["5 waiting no_answer", "6 offered"])
            // Busy: voter 6 waits 15 minutes.
            try await outcome(6, .busy, at: t0.addingTimeInterval(60))
            #expect(try await db.strings("SELECT next_attempt_at::text FROM list_entries ORDER BY id")
                    == ["2028-11-01 05:30:00+00", "2028-11-01 04:46:00+00"])
            // 16 minutes on, only voter 6 is due again; it is offered and this time connects.
            round = try await Self.dispatcher(db, at: t0.addingTimeInterval(16 * 60)).round()
            #expect(round.released == 1 && round.offered == 1)
            try await outcome(6, .connected, at: t0.addingTimeInterval(17 * 60))
            // An hour on, voter 5's second attempt, again no answer: that was the last.
            round = try await Self.dispatcher(db, at: t0.addingTimeInterval(61 * 60)).round()
            #expect(round.released == 1 && round.offered == 1)
            try await outcome(5, .noAnswer, at: t0.addingTimeInterval(62 * 60))
            #expect(try await Self.states(db) == ["5 exhausted no_answer", "6 completed connected"])
            // Days later nothing more goes out: two attempts each at most.
            round = try await Self.dispatcher(db, at: t0.addingTimeInterval(3 * 86_400)).round()
            #expect(round.offered == 0)
            #expect(try await db.strings("SELECT attempts::text FROM list_entries ORDER BY id") == ["2", "2"])
            #expect(try await db.count("SELECT count(*) FROM offers") == 4)
        }
    }

    @Test func aWrongNumberIsNeverCalledAgainAndACallbackWaitsForItsTime() async throws {
        try await FreshDatabase.with("wrong") { db in
            try await db.pool.withConnection { try $0.executeScript(Self.setup) }
            try await Self.agents(db, 2, at: Self.ist("2028-11-01T10:00:00"))
            try await Self.list(db, id: 1, kind: .schemeFeedback, contacts: [5, 6])
            let t0 = Self.ist("2028-11-01T10:00:00")
            _ = try await Self.dispatcher(db, at: t0).round()
            let offers = try await db.pool.query("SELECT o.id, o.entry_id FROM offers o ORDER BY o.entry_id")
            let callback = Self.ist("2028-11-01T16:30:00")
            try await db.handle(OutcomeHandler(dispatcher: Self.dispatcher(db, at: t0)),
                                CallOutcome(attemptID: try offers[0].decode(Int64.self, at: 0), entryID: try offers[0].decode(Int64.self, at: 1),
                                            centre: "C1", agent: "a", disposition: .wrongNumber, startedAt: t0, endedAt: t0))
            try await db.handle(OutcomeHandler(dispatcher: Self.dispatcher(db, at: t0)),
                                CallOutcome(attemptID: try offers[1].decode(Int64.self, at: 0), entryID: try offers[1].decode(Int64.self, at: 1),
                                            centre: "C1", agent: "a", disposition: .callBack, callbackAt: callback, startedAt: t0, endedAt: t0))
            #expect(try await Self.states(db) == ["5 suppressed wrong_number", "6 waiting call_back"])
            #expect(try await db.strings("SELECT next_attempt_at::text FROM list_entries WHERE contact_id = 6") == ["2028-11-01 11:00:00+00"])
            // The same outcome again (another message id) changes nothing.
            try await db.handle(OutcomeHandler(dispatcher: Self.dispatcher(db, at: t0)),
                                CallOutcome(attemptID: try offers[1].decode(Int64.self, at: 0), entryID: try offers[1].decode(Int64.self, at: 1),
                                            centre: "C1", agent: "a", disposition: .connected, startedAt: t0, endedAt: t0))
            #expect(try await Self.states(db) == ["5 suppressed wrong_number", "6 waiting call_back"])
            let round = try await Self.dispatcher(db, at: callback).round()
            #expect(round.released == 1 && round.offered == 1)
        }
    }

    /// An offer no outcome answered is reclaimed after its expiry and the longest call; not
    /// while outcomes wait in the dispatcher's queue, and never one whose call the ledger holds.
    @Test func unansweredOffersAreReclaimedButNotAnsweredOnesNorWhileOutcomesWait() async throws {
        try await FreshDatabase.with("reclaim") { db in
            try await db.pool.withConnection { try $0.executeScript(Self.setup) }
            try await Self.agents(db, 2, at: Self.ist("2028-11-01T10:00:00"))
            try await Self.list(db, id: 1, kind: .schemeFeedback, contacts: [5, 6])
            _ = try await Self.dispatcher(db, at: Self.ist("2028-11-01T10:00:00")).round()
            // The aggregator has recorded voter 6's call; the dispatcher has not had its copy yet.
            try await db.pool.execute("""
                INSERT INTO attempts (entry_id, centre_id, agent, result, started_at, ended_at, message_id, offer_id)
                SELECT o.entry_id, 1, 'a', 'connected', now(), now(), 'm6', o.id FROM offers o JOIN list_entries e ON e.id = o.entry_id
                WHERE e.contact_id = 6
                """)
            // 41 minutes on (10 to expire, 30 for the longest call), with an outcome waiting: nothing.
            let later = Self.ist("2028-11-01T10:41:00")
            let waiting = Dispatcher(settings: DispatchSettings(clock: .fixed(at: later)), pool: db.pool, relay: nil, offerQueues: nil,
                                     logger: Logger(label: "test"), backlog: { 1 })
            #expect(try await waiting.round().reclaimed == 0)
            // The queue drained: voter 5's offer is reclaimed (and offered again), voter 6's kept.
            let drained = Dispatcher(settings: DispatchSettings(clock: .fixed(at: later)), pool: db.pool, relay: nil, offerQueues: nil,
                                     logger: Logger(label: "test"), backlog: { 0 })
            let round = try await drained.round()
            #expect(round.reclaimed == 1 && round.offered == 1)
            #expect(try await db.strings("""
                SELECT e.contact_id || ' ' || o.state FROM offers o JOIN list_entries e ON e.id = o.entry_id ORDER BY o.id
                """) == ["5 expired", "6 live", "5 live"])
        }
    }

    // MARK: Pacing

    @Test func offersFollowAgentsTimesPacingWithinSeats() async throws {
        try await FreshDatabase.with("pacing") { db in
            try await db.pool.withConnection { try $0.executeScript(Self.setup) }
            try await db.pool.execute("INSERT INTO contacts (id, phone_hash, phone_sealed, phone_tail, name, booth_id, state_id, language) SELECT i, \(TestPhones.columns("'+9198100' || lpad(i::text, 5, '0')")), 'V' || i, 4, 1, 'hi' FROM generate_series(100, 160) i")
            let many = Array(Int64(100)...160)
            try await Self.list(db, id: 1, kind: .schemeFeedback, contacts: many)
            // AC-2's poll day; these voters are in AC-1, which polled a week before.
            let t = Self.ist("2028-11-24T09:00:00")
            // No agents: nothing, however much is due.
            #expect(try await Self.dispatcher(db, at: t).round().offered == 0)
            // Three agents at desks (pacing 1): three offers; another round adds none.
            try await Self.agents(db, 3, at: t)
            #expect(try await db.count("SELECT count(*) FROM offers WHERE state = 'live'") == 3, "the logins filled the centre")
            #expect(try await Self.dispatcher(db, at: t).round().offered == 0)
            // A gateway campaign paced at 2.5 fills what the desks leave: none, the agents are taken.
            try await Self.list(db, id: 2, kind: .getOutTheVote, contacts: [5, 6, 7, 8], pacing: 2.5, dialing: "gateway", pollDate: "2028-11-24")
            #expect(try await Self.dispatcher(db, at: t).round().offered == 0)
            // Twelve agents, but ten seats: ten agents' worth. Polling day comes first: its 4
            // entries weigh 1.6 agents; the other 8.4 agents take 8 desk offers (3 already out).
            try await Self.agents(db, 12, at: t)
            #expect(try await db.count("SELECT count(*) FROM offers o JOIN list_entries e ON e.id = o.entry_id WHERE o.state = 'live' AND e.list_id = 2") == 4)
            #expect(try await db.count("SELECT count(*) FROM offers o JOIN list_entries e ON e.id = o.entry_id WHERE o.state = 'live' AND e.list_id = 1") == 8)
            // Offers to desks carry the number masked; the gateway's carry it whole, its outbox
            // row holding it sealed beside the body (the relay puts it in as it publishes), so
            // no table holds the number.
            let rows = try await db.pool.query("SELECT body, phone_sealed FROM outbox WHERE type = 'call.offer.v2' ORDER BY id")
            #expect(try rows.filter { try $0.decode(Data?.self, at: 1) != nil }.count == 4, "the four gateway offers, each with its number sealed")
            for row in rows {
                #expect(!String(decoding: try row.decode(Data.self, at: 0), as: UTF8.self).contains("+9198000000"), "no number in clear")
            }
            let bodies = try rows.map {
                try MessageCoding.decode(CallOffer.self, from: try Self.published(try $0.decode(Data.self, at: 0), phoneSealed: try $0.decode(Data?.self, at: 1)))
            }
            let desk = try #require(bodies.first { $0.dialing == .preview }), gateway = try #require(bodies.first { $0.dialing == .gateway })
            #expect(desk.contact.phone.hasPrefix("+91******") && desk.contact.phone.count == 13)
            #expect(gateway.contact.phone.hasPrefix("+9198000000"))
            #expect(desk.kind == .schemeFeedback && desk.maxAttempts == 3 && desk.attempt == 0 && desk.contact.language == "hi")
            #expect(gateway.expiresAt == Self.ist("2028-11-24T09:10:00"), "the offer lifetime is ten minutes")
        }
    }

    @Test func twoDispatchersOnOneCentreNeverOfferMoreThanItsAgentsOrOneEntryTwice() async throws {
        try await FreshDatabase.with("twin") { db in
            try await db.pool.withConnection { try $0.executeScript(Self.setup) }
            try await db.pool.execute("INSERT INTO contacts (id, phone_hash, phone_sealed, phone_tail, name, booth_id, state_id) SELECT i, \(TestPhones.columns("'+9198100' || lpad(i::text, 5, '0')")), 'V' || i, 5, 1 FROM generate_series(100, 400) i")
            try await Self.list(db, id: 1, kind: .schemeFeedback, contacts: Array(Int64(100)...400))
            try await db.pool.execute("INSERT INTO agents (centre_id, agent, state, changed_at) SELECT 1, 'a' || i, 'available', now() FROM generate_series(1, 7) i")
            let t = Self.ist("2028-11-01T10:00:00")
            // Many rounds of two dispatchers at once, answering every offer between them.
            for _ in 0..<15 {
                async let a = Self.dispatcher(db, at: t).round()
                async let b = Self.dispatcher(db, at: t).round()
                _ = try await (a, b)
                #expect(try await db.count("SELECT count(*) FROM offers WHERE state = 'live'") <= 7)
                try await db.pool.execute("""
                    WITH done AS (UPDATE offers SET state = 'answered' WHERE state = 'live' RETURNING entry_id)
                    UPDATE list_entries SET state = 'completed' WHERE id IN (SELECT entry_id FROM done)
                    """)
            }
            #expect(try await db.count("SELECT count(*) FROM offers") == 7 * 15)
            #expect(try await db.count("SELECT count(*) FROM (SELECT entry_id FROM offers GROUP BY entry_id HAVING count(*) > 1) x") == 0)
        }
    }
}
