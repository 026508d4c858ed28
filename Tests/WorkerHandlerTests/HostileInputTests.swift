import Foundation
import Testing
import FeedbackAggregator
import SamparkCore
import SamparkPostgres
@testable import SamparkRuntime
import SamparkTestSupport

/// Hostile text in a call outcome (issue 9, first cases): SQL fragments, control characters,
/// right-to-left marks and a 1 MB note are stored verbatim, never executed; a NUL, which
/// PostgreSQL text cannot hold, is refused with a reason and nothing of it is kept; deeply
/// nested JSON and wrong types never reach a handler.
@Suite struct HostileInputTests {
    static let hostile = [
        "'); DROP TABLE attempts; --",
        "Robert'); DELETE FROM opt_outs WHERE ('1' = '1",
        "$1 $$ \\x00 E'\\\\' ::text",
        "\u{202E}evil\u{202C} \u{200F}مرحبا\u{200E}",
        "tab\tline\nfeed\rbell\u{07}escape\u{1B}[31m",
        String(repeating: "नमस्ते ", count: 150_000),   // about 1 MB of UTF-8
    ]

    @Test func hostileTextInAnOutcomeIsStoredVerbatim() async throws {
        try await FreshDatabase.with("hostile") { db in
            try await db.pool.withConnection { try $0.executeScript(CallOutcomeHandlerTests.setup) }
            var batch: [(CallOutcome, String)] = []
            for (i, text) in Self.hostile.prefix(3).enumerated() {
                var outcome = CallOutcomeHandlerTests.outcome(Int64(i + 1), .connected, answers: ["q1": text, text: "yes"])
                outcome.notes = Self.hostile[(i + 3) % Self.hostile.count]
                outcome.issueTags = [text]
                outcome.scheme = text
                outcome.schemeFeedback = .notReceived
                batch.append((outcome, "hostile-\(i)"))
            }
            try await db.handle(batch: CallOutcomeHandler(), batch)
            #expect(try await db.count("SELECT count(*) FROM attempts") == 3, "the tables are all still there")
            for (outcome, _) in batch {
                let stored = try await db.pool.query("SELECT feedback, answers ->> 'q1', scheme FROM attempts WHERE offer_id = $1",
                                                     [outcome.attemptID])
                let row = try #require(stored.first)
                #expect(try row.decode(String.self, at: 0) == outcome.notes, "notes verbatim")
                #expect(try row.decode(String.self, at: 1) == outcome.answers?["q1"], "answers verbatim")
                #expect(try row.decode(String.self, at: 2) == outcome.scheme, "scheme verbatim")
            }
            #expect(try await db.count("SELECT count(*) FROM answer_tallies") == 6, "each hostile question and answer tallied as text")
            #expect(try await db.count("SELECT count(*) FROM escalations") == 3)
        }
    }

    @Test func aNulIsRefusedWithAReasonAndNothingOfItIsKept() async throws {
        try await FreshDatabase.with("hostile") { db in
            try await db.pool.withConnection { try $0.executeScript(CallOutcomeHandlerTests.setup) }
            var outcome = CallOutcomeHandlerTests.outcome(1, .connected)
            outcome.notes = "before\u{0}after"
            do {
                try await db.handle(batch: CallOutcomeHandler(), [(outcome, "nul")])
                Issue.record("a note holding a NUL was stored")
            } catch let error as PostgresError {
                // Permanent by its SQLSTATE: the runner dead-letters the message at once (alone,
                // out of its batch) with the reason, which quotes nothing of the note.
                #expect(error.retryClassification == .permanent)
                #expect(!String(describing: error).contains("before"), "the reason quotes nothing of the note")
            }
            #expect(try await db.count("SELECT count(*) FROM attempts") == 0)
        }
    }

    @Test func nestedJSONAndWrongTypesNeverReachAHandler() throws {
        let deep = "{\"attempt_id\": " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"
        let wrong = #"{"attempt_id": "1; DROP TABLE attempts", "entry_id": 1, "centre": "C1", "agent": "a", "disposition": "connected","#
            + #" "started_at": "2028-11-17T04:30:00Z", "ended_at": "2028-11-17T04:31:00Z"}"#
        let forged = #"{"attempt_id": 1, "entry_id": 1, "centre": "C1", "agent": "a", "disposition": "drop_table","#
            + #" "started_at": "2028-11-17T04:30:00Z", "ended_at": "2028-11-17T04:31:00Z"}"#
        for body in [deep, wrong, forged] {
            #expect(throws: DecodingError.self) { try MessageCoding.decode(CallOutcome.self, from: Array(body.utf8)) }
        }
        do {
            _ = try MessageCoding.decode(CallOutcome.self, from: Array(wrong.utf8))
        } catch {
            let reason = describeDecodingFailure(error)
            #expect(reason.hasPrefix("attempt_id"), "\(reason)")
            #expect(!reason.contains("DROP"), "the reason names the field, never the value")
        }
    }
}
