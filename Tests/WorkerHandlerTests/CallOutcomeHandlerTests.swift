import Foundation
import Testing
import FeedbackAggregator
import SamparkCore
import SamparkPostgres
@testable import SamparkRuntime
import SamparkTestSupport

/// The aggregator's batch on a fresh database: each attempt recorded once however often it
/// comes, counted once at its booth (and so once in every unit above), answers tallied, an opt-out
/// stored, a voter who voted marked; an unknown attempt refused.
@Suite struct CallOutcomeHandlerTests {
    static let setup = """
        INSERT INTO org_units (id, level, code, name, parent_id, path, state_id) VALUES
            (1, 'state', 'S', 'State', NULL, '1', 1), (2, 'district', 'D', 'District', 1, '1.2', 1),
            (3, 'ac', 'AC-1', 'AC 1', 2, '1.2.3', 1), (4, 'booth', 'B-1', 'Booth 1', 3, '1.2.3.4', 1), (5, 'booth', 'B-2', 'Booth 2', 3, '1.2.3.5', 1);
        INSERT INTO call_centres (id, code, name, seats) VALUES (1, 'C1', 'Centre', 10);
        INSERT INTO contacts (id, phone_hash, phone_sealed, phone_tail, name, booth_id, state_id) VALUES
            (1, \(TestPhones.sql("+919800000001")), 'A', 4, 1), (2, \(TestPhones.sql("+919800000002")), 'B', 4, 1),
            (3, \(TestPhones.sql("+919800000003")), 'C', 5, 1);
        INSERT INTO campaigns (id, code, kind, name) VALUES (1, 'K', 'gotv', 'Poll');
        INSERT INTO call_lists (id, campaign_id, spec, ready) VALUES (1, 1, '{}', '{}');
        INSERT INTO list_entries (id, list_id, contact_id, phone_hash, phone_sealed, phone_tail, centre_id, state)
            SELECT id, 1, id, phone_hash, phone_sealed, phone_tail, 1, 'offered' FROM contacts;
        INSERT INTO offers (id, entry_id, centre_id, weight, offered_at, expires_at, reclaim_at)
            SELECT id, id, 1, 1, now(), now(), now() FROM list_entries;
        """

    static let moment = ISO8601DateFormatter().date(from: "2028-11-17T10:00:00+05:30")!

    static func outcome(_ attempt: Int64, _ disposition: Disposition, answers: [String: String]? = nil,
                        turnout: CallOutcome.Turnout? = nil) -> CallOutcome {
        CallOutcome(attemptID: attempt, entryID: attempt, centre: "C1", agent: "agent-1", disposition: disposition, answers: answers,
                    turnout: turnout, startedAt: moment, endedAt: moment.addingTimeInterval(60))
    }

    @Test func eachAttemptIsCountedOnceAtEveryLevel() async throws {
        try await FreshDatabase.with("outcomes") { db in
            try await db.pool.withConnection { try $0.executeScript(Self.setup) }
            let handler = CallOutcomeHandler()
            // Attempt 1 twice in one batch (a desk that published twice under two ids).
            try await db.handle(batch: handler, [
                (Self.outcome(1, .connected, answers: ["q1": "yes"], turnout: .voted), "m1"),
                (Self.outcome(1, .connected, answers: ["q1": "yes"], turnout: .voted), "m1-again"),
                (Self.outcome(2, .optedOut), "m2"),
                (Self.outcome(3, .connected, answers: ["q1": "no"], turnout: .notYet), "m3"),
            ])
            // And once more in a later batch.
            try await db.handle(batch: handler, [(Self.outcome(1, .noAnswer), "m1-later")])

            #expect(try await db.count("SELECT count(*) FROM attempts") == 3)
            #expect(try await db.strings("SELECT offer_id || ' ' || result FROM attempts ORDER BY offer_id")
                    == ["1 connected", "2 opted_out", "3 connected"])
            // Kept per booth: B-1 had attempts 1 and 2, B-2 attempt 3 ...
            #expect(try await db.strings("""
                SELECT u.code || ' ' || sum(a.attempts) || ' ' || sum(a.connected) || ' ' || sum(a.opted_out) || ' ' || sum(a.voted)
                FROM unit_aggregates a JOIN org_units u ON u.id = a.unit_id GROUP BY u.id, u.code ORDER BY u.id
                """) == ["B-1 2 1 1 1", "B-2 1 1 0 0"])
            // ... so every unit above sums its subtree: AC, district and state all three.
            #expect(try await db.strings("""
                SELECT u.code || ' ' || sum(a.attempts) || ' ' || sum(a.connected) || ' ' || sum(a.opted_out) || ' ' || sum(a.voted)
                FROM org_units u JOIN org_units b ON b.path <@ u.path JOIN unit_aggregates a ON a.unit_id = b.id
                GROUP BY u.id, u.code ORDER BY u.id
                """) == ["S 3 2 1 1", "D 3 2 1 1", "AC-1 3 2 1 1", "B-1 2 1 1 1", "B-2 1 1 0 0"])
            #expect(try await db.strings("""
                SELECT u.code || ' ' || t.answer || ' ' || sum(t.answers) FROM answer_tallies t JOIN org_units u ON u.id = t.unit_id
                GROUP BY u.id, u.code, t.answer ORDER BY u.id, t.answer
                """) == ["B-1 yes 1", "B-2 no 1"])
            #expect(try await db.strings("SELECT day::text || ' ' || sum(attempts) FROM shift_aggregates GROUP BY day") == ["2028-11-17 3"])
            #expect(try await db.strings("SELECT encode(phone_hash, 'hex') FROM opt_outs") == [PhoneVault.hex(TestPhones.vault.hash("+919800000002")).dropFirst(2).description],
                    "the number's keyed hash, never the number")
            #expect(try await db.strings("SELECT contact_id::text FROM turnout_marks") == ["1"], "only the voter who said they voted")
        }
    }

    @Test func anOutcomeForNoOfferIsRefusedAndNothingOfItsBatchIsKept() async throws {
        try await FreshDatabase.with("outcomes") { db in
            try await db.pool.withConnection { try $0.executeScript(Self.setup) }
            await #expect(throws: HandlerError.self) {
                try await db.handle(batch: CallOutcomeHandler(), [(Self.outcome(1, .connected), "m1"), (Self.outcome(99, .connected), "m99")])
            }
            #expect(try await db.count("SELECT count(*) FROM attempts") == 0)
            var wrongEntry = Self.outcome(2, .busy)
            wrongEntry.entryID = 3
            do {
                try await db.handle(batch: CallOutcomeHandler(), [(wrongEntry, "m2")])
                Issue.record("an attempt named with another entry was recorded")
            } catch let error as HandlerError {
                #expect(error.description == "entry_id: the attempt was an offer of another entry")
            }
        }
    }

    /// An outcome is recorded only from the centre that was offered the call (its desks' or its
    /// gateway's user, as RabbitMQ verified), or from a trusted user; one naming nobody, or
    /// another centre, is refused by reason, and nothing of its batch is kept.
    @Test func onlyTheOfferedCentreOrATrustedUserMayReportACall() async throws {
        try await FreshDatabase.with("outcomes") { db in
            try await db.pool.withConnection { try $0.executeScript(Self.setup) }
            let refused: [(Sender?, String)] = [
                (nil, "user_id: the message names no sender; a centre's messages must carry its user_id"),
                (Sender(user: "centre-c2", trusted: false), "user_id: centre-c2 may not speak for centre C1"),
                (Sender(user: "centre-c1-desk", trusted: false), "user_id: centre-c1-desk may not speak for centre C1"),
            ]
            for (sender, reason) in refused {
                do {
                    try await db.handle(batch: CallOutcomeHandler(), [(Self.outcome(1, .connected), "m1")], sender: sender)
                    Issue.record("an outcome from \(sender?.user ?? "nobody") was recorded")
                } catch let error as HandlerError {
                    #expect(error.description == reason)
                }
            }
            #expect(try await db.count("SELECT count(*) FROM attempts") == 0)
            try await db.handle(batch: CallOutcomeHandler(), [(Self.outcome(1, .connected), "m1")], sender: Sender(user: "centre-c1", trusted: false))
            try await db.handle(batch: CallOutcomeHandler(), [(Self.outcome(2, .busy), "m2")], sender: Sender(user: "centre-c1-gateway", trusted: false))
            try await db.handle(batch: CallOutcomeHandler(), [(Self.outcome(3, .busy), "m3")], sender: Sender(user: "desk-sim", trusted: true))
            #expect(try await db.count("SELECT count(*) FROM attempts") == 3)
        }
    }
}
