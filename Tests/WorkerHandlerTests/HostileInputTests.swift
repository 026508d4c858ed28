import Foundation
import Testing
import DialerDispatcher
import FeedbackAggregator
@testable import IngestWorker
import Reporter
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

    /// A CSV field holding `text`, quoted as any spreadsheet would write it.
    static func field(_ text: String) -> String { "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    /// Every text field of the sources: stored verbatim, or, past its length or holding a NUL,
    /// rejected with a reason that names the field and quotes nothing of it. The tables and
    /// the other rows stay.
    @Test func hostileTextInEverySourceFileIsStoredVerbatimOrRejected() async throws {
        try await FreshDatabase.with("hostile_sources") { db in
            let texts = Self.hostile.prefix(5).map { $0 }
            let long = String(repeating: "x", count: 100_000)
            var units = "level,code,name,parent_code\nstate,CG,Chhattisgarh,\n"
            for (i, text) in texts.enumerated() { units += "district,D-\(i),\(Self.field(text)),CG\n" }
            units += "district,D-LONG,\(Self.field(long)),CG\n"
            // A field of megabytes (a missing closing quote, or an attack): reading stops there,
            // with the reason; what came before is kept.
            units += "district,D-HUGE,\(Self.field(Self.hostile[5])),CG\n"
            let unitReport = try await db.load(.orgUnits, units)
            #expect(unitReport.counts.inserted == texts.count + 1 && unitReport.counts.rejected == 2, "\(unitReport.counts.summary)")
            #expect(unitReport.firstRejects.map { "\($0.field): \($0.reason)" } == [
                "name: is longer than 300 characters",
                "-: a field is longer than 1048576 bytes (is a closing quote missing?); reading stopped here"])
            #expect(try await db.strings("SELECT name FROM org_units WHERE code LIKE 'D-%' ORDER BY code") == texts)

            var people = "name,phones,role,unit_code,committee,responsibilities\n"
            for (i, text) in texts.enumerated() {
                people += "\(Self.field(text)),+91980000000\(i),\(Self.field(text)),D-\(i),\(Self.field(text)),\(Self.field(text))\n"
            }
            people += "Long,+919800000009,worker,D-0,,\(long)\n"
            people += "\(Self.field("nul\u{0}name")),+919800000008,worker,D-0,,\n"
            let peopleReport = try await db.load(.people, people)
            #expect(peopleReport.counts.inserted == texts.count, "\(peopleReport.counts.summary)")
            #expect(peopleReport.counts.rejected == 2, "the long field and the NUL: \(peopleReport.firstRejects)")
            #expect(peopleReport.firstRejects.first?.field == "responsibilities")
            for reject in peopleReport.firstRejects {
                #expect(!reject.reason.contains("xxxx") && !reject.reason.contains("nul"), "names the field, quotes nothing: \(reject.reason)")
            }
            let stored = try await db.strings("""
                SELECT name || '|' || role || '|' || committee || '|' || responsibilities FROM people ORDER BY phone_tail
                """)
            #expect(stored == texts.map { "\($0)|\($0)|\($0)|\($0)" }, "every field verbatim")

            var contacts = "name,phone,booth_code\n"
            for (i, text) in texts.enumerated() { contacts += "\(Self.field(text)),+91970000000\(i),B-\(i)\n" }
            let contactReport = try await db.load(.contacts, contacts)
            #expect(contactReport.counts.rejected == texts.count, "no such booths: each rejected by its booth_code")
            #expect(Set(contactReport.firstRejects.map(\.field)) == ["booth_code"])
            #expect(try await db.count("SELECT count(*) FROM org_units") == texts.count + 1, "nothing dropped, nothing executed")
        }
    }

    /// The central team's material: hostile titles, scripts and questions stored verbatim.
    @Test func hostileTextInMaterialIsStoredVerbatim() async throws {
        try await FreshDatabase.with("hostile_messages") { db in
            try await db.load(.orgUnits, FreshDatabase.tree)
            let texts = Self.hostile.prefix(5).map { $0 }
            for (i, text) in texts.enumerated() {
                try await db.handle(MaterialHandler(), MaterialPublished(
                    id: "hostile-\(i)", version: 1, title: text, scripts: ["hi": text, "en": text],
                    questions: [.init(id: "q1", text: ["hi": text], answers: [text, "no"])], scope: ["CG"]))
            }
            #expect(try await db.strings("SELECT title FROM materials ORDER BY code") == texts)
            #expect(try await db.strings("SELECT scripts ->> 'hi' FROM materials ORDER BY code") == texts)
            // A material whose title is a megabyte is refused by name (or stored whole), never cut.
            do {
                try await db.handle(MaterialHandler(), MaterialPublished(id: "huge", version: 1, title: Self.hostile[5], scripts: ["hi": "x"],
                                                                         questions: [], scope: ["CG"]))
                #expect(try await db.strings("SELECT title FROM materials WHERE code = 'huge'") == [Self.hostile[5]])
            } catch let error as HandlerError {
                #expect(error.description.hasPrefix("title"), "\(error.description)")
            }
        }
    }

    /// A desk's presence: a hostile agent name (within its 100 characters) is stored verbatim; a
    /// centre code that is no centre is refused by name. A report request naming a hostile
    /// scope or constituency is refused by name. Nothing is executed.
    @Test func hostileTextInPresenceAndReportRequestsIsStoredVerbatimOrRefused() async throws {
        try await FreshDatabase.with("hostile_presence") { db in
            try await db.pool.withConnection { try $0.executeScript(DispatchTests.setup) }
            let date = DispatchTests.ist("2028-11-01T10:00:00")
            let handler = AgentPresenceHandler(dispatcher: DispatchTests.dispatcher(db, at: date))
            let names = Self.hostile.prefix(5).map { String($0.prefix(100)) }
            for (i, name) in names.enumerated() {
                try await db.handle(handler, AgentPresence(centre: "C1", agent: name, state: .available, at: date), messageID: "p-\(i)")
            }
            #expect(Set(try await db.strings("SELECT agent FROM agents")) == Set(names), "every name verbatim")
            let refused = await #expect(throws: HandlerError.self) {
                try await db.handle(handler, AgentPresence(centre: Self.hostile[0], agent: "a", state: .available, at: date))
            }
            #expect(refused?.description == "centre: no call centre has this code")

            let reports = ReportRequestHandler(settings: ReportSettings(publishAt: nil, clock: .fixed(at: date)))
            for text in Self.hostile.prefix(5) {
                await #expect(throws: HandlerError.self) {
                    try await db.handle(reports, ReportRequest(kind: .daily, day: "2028-11-01", scope: text))
                }
                await #expect(throws: HandlerError.self) {
                    try await db.handle(reports, ReportRequest(kind: .dossier, day: "2028-11-01", constituency: text, party: "P"))
                }
            }
            #expect(try await db.count("SELECT count(*) FROM reports") == 0, "nothing stored")
            #expect(try await db.count("SELECT count(*) FROM call_centres") == 1, "nothing executed")
        }
    }
}
