import Foundation
import Testing
@testable import SamparkCore

/// What the Swift code encodes must validate against the JSON Schema published for its type
/// (schemas/messages/<type>.json), checked by check-jsonschema (installed by make test).
@Suite struct MessageContractTests {
    static let now = Date(timeIntervalSince1970: 1_714_000_000)

    /// One example of every message type, with optional fields set.
    static let examples: [(String, @Sendable () throws -> [UInt8], @Sendable ([UInt8]) throws -> Bool)] = [
        entry(IngestBatch(loadID: "load-1", source: .contacts, file: "contacts.csv", batchNumber: 1, isLast: true,
                          columns: ["phone", "name", "booth_code"],
                          rows: [.init(line: 2, values: ["+919876543210", "Asha Devi", "B-101"])],
                          rejected: [.init(line: 3, field: "-", reason: "has 4 fields; the header has 3")])),
        entry(IngestBatchApplied(loadID: "load-1", batchNumber: 1, counts: .init(read: 2, inserted: 1, rejected: 1))),
        entry(IngestCompleted(loadID: "load-1", source: .contacts, file: "contacts.csv", batches: 1,
                              counts: .init(read: 3, inserted: 1, updated: 1, rejected: 1),
                              rejectedByReason: [.init(field: "phone", reason: "is not an Indian phone number", count: 1)],
                              firstRejects: [.init(line: 3, field: "phone", reason: "is not an Indian phone number")],
                              startedAt: now, finishedAt: now.addingTimeInterval(2))),
        entry(TurnoutMark(epic: "CGA0000001", acNumber: 62, partNumber: 1, serialNumber: 7, stateCode: "CG", votedAt: now, source: "agent-B-62-001")),
        entry(ErasureRequest(phone: "+919876543210", requestedBy: "grievance desk, ticket 4711", reason: "the citizen's email")),
        entry(MaterialPublished(id: "mann-ki-baat-nov", version: 2, title: "Programme relay", scripts: ["hi": "नमस्कार", "en": "Namaskar"],
                                questions: [.init(id: "q1", text: ["hi": "क्या आपने सुना?", "en": "Did you listen?"], answers: ["yes", "no"])],
                                scope: ["CG"], validFrom: now, validTo: now.addingTimeInterval(86_400))),
        entry(ListBuildRequest(requestID: "reach-drg-2026-11-23", kind: .committeeReach,
                               campaign: .init(code: "BOOTH-REACH", name: "Booth committee reach", recallDays: 3, householdCap: 1, material: "M-1"),
                               audience: .init(scope: "AC-62", levels: ["booth"], roles: ["booth_president"], perCommittee: 2))),
        entry(ListBuildRequest(requestID: "weak-1", kind: .weakBooth, campaign: .init(code: "WEAK"),
                               audience: .init(scope: "DRG", election: "AE2023", party: "BJP", shareBelow: 0.4))),
        entry(ListReady(requestID: "reach-drg-2026-11-23", listID: 7, campaignID: 3, campaign: "BOOTH-REACH", kind: .committeeReach,
                        audience: 130, entries: 120, suppressed: [.init("opted_out", 4), .init("no_centre", 6)],
                        centres: [.init("DRG-01", 120)], uncovered: [.init("B-9", 6)], shortCommittees: [.init("B-7", 1)],
                        shortCommitteesTotal: 1, hash: "0f3a9c2e71d4b5a8")),
        entry(RequestRejected(requestType: "list.build.v2", reason: "audience.scope: no unit has code 'AC-999'")),
        entry(CallOffer(attemptID: 41, entryID: 11, listID: 7, centre: "DRG-01", campaign: "UJJWALA-FEEDBACK", kind: .schemeFeedback,
                        dialing: .preview, contact: .init(name: "Asha Devi", language: "hi", phone: "+91******3210"),
                        material: .init(code: "M-1", version: 2, script: "Namaskar",
                                        questions: [.init(id: "q1", text: ["hi": "क्या गैस मिली?"], answers: ["yes", "no"])]),
                        attempt: 1, maxAttempts: 3, expiresAt: now)),
        entry(CallOutcome(attemptID: 41, entryID: 11, centre: "DRG-01", agent: "agent-3", disposition: .connected, talkSeconds: 95,
                          answers: ["q1": "yes"], notes: "satisfied", issueTags: ["water"], schemeFeedback: .partly, turnout: .voted,
                          startedAt: now, endedAt: now.addingTimeInterval(90))),
        entry(CallOutcome(attemptID: 42, entryID: 12, centre: "DRG-01", agent: "agent-3", disposition: .callBack,
                          callbackAt: now.addingTimeInterval(7200), startedAt: now, endedAt: now.addingTimeInterval(20))),
        entry(AgentPresence(centre: "DRG-01", agent: "agent-3", state: .available, shift: "09:00-15:00", at: now)),
        entry(CallOutcome(attemptID: 43, entryID: 13, centre: "DRG-01", agent: "agent-3", disposition: .connected, schemeFeedback: .notReceived,
                          scheme: "ujjwala", verification: .init(roleConfirmed: false, unitConfirmed: true,
                                                                 corrections: .init(role: "booth_secretary", unit: "B-62-004")),
                          startedAt: now, endedAt: now.addingTimeInterval(60))),
        entry(ReportRequest(kind: .daily, day: "2024-04-25", scope: "DRG")),
        entry(ReportRequest(kind: .daily, day: "2024-04-25", all: true)),
        entry(ReportRequest(kind: .dossier, constituency: "AC-62", election: "AE2023", party: "BJP")),
        entry(DailyReport(reportID: "daily/2024-04-25/DRG", day: "2024-04-25",
                          scope: .init(level: "district", code: "DRG", name: "Durg", state: "CG"), generatedAt: now,
                          calls: [.init(campaign: "GOTV-1", kind: .getOutTheVote, counts: .init(attempts: 3, connected: 2, noAnswer: 1, voted: 2))],
                          totals: .init(attempts: 3, connected: 2, noAnswer: 1, voted: 2),
                          committees: [.init(level: "booth", committees: 10, reachedTwo: 4)],
                          schemes: [.init(scheme: "ujjwala", received: 5, notReceived: 1, partly: 2)],
                          escalations: .init(raised: 1, open: 3), issueTags: [.init(tag: "water", calls: 4)],
                          turnout: .init(calls: 3, reached: 2, voted: 2), centres: [.init(centre: "DRG-01", shift: "09:00-15:00", attempts: 3, connected: 2, talkSeconds: 180)],
                          refusals: [.init(reason: "silence_period", calls: 12), .init(reason: "calling_hours", calls: 40)], pendingCorrections: 1)),
        entry(DailyReport(reportID: "daily/2024-04-25/national", day: "2024-04-25",
                          scope: .init(level: "national", code: "national", name: "National", state: nil), generatedAt: now,
                          calls: [], totals: .init())),
        entry(ConstituencyDossier(reportID: "dossier/2024-04-25/AC-62", day: "2024-04-25",
                                  constituency: .init(level: "ac", code: "AC-62", name: "Patan", state: "CG"), district: "DRG",
                                  generatedAt: now, election: "AE2023", party: "BJP",
                                  counts: .init(booths: 2, voters: 100, beneficiaries: 40, people: 6),
                                  booths: [.init(booth: "B-62-001", name: "Booth 1", electors: 1043, polled: 821, votes: 370, rival: "INC",
                                                 rivalVotes: 381, margin: -11, share: 0.4507)],
                                  weakBooths: [], people: [.init(name: "Lata Sahu", role: "booth_president", unit: "B-62-001", level: "booth",
                                                                 committee: "booth committee", responsibilities: nil)],
                                  committees: [.init(level: "booth", committees: 2, reachedTwo: 1)])),
        entry(EscalationRaised(escalationID: 1, attemptID: 43, day: "2024-04-25", state: "CG", district: "DRG", unit: "B-62-001",
                               campaign: "UJJWALA-FEEDBACK", scheme: "ujjwala", contactID: 9, name: "Asha Devi", phone: "+91******3210",
                               raisedAt: now)),
        entry(ReportsPublished(day: "2024-04-25", reports: ["daily/2024-04-25/DRG", "daily/2024-04-25/national"])),
    ]

    static func entry<M: SamparkMessage & Equatable>(_ message: M) -> (String, @Sendable () throws -> [UInt8], @Sendable ([UInt8]) throws -> Bool) {
        (M.messageType, { try MessageCoding.encode(message) }, { body in try MessageCoding.decode(M.self, from: body) == message })
    }

    static let schemaDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("schemas/messages")

    /// Runs check-jsonschema on `body` against the type's schema; returns its exit status.
    /// Waits without holding a thread: a test blocked in `waitUntilExit` holds one of the
    /// few cooperative threads (two on this machine) that every test running beside it needs.
    static func validate(_ body: [UInt8], type: String) async throws -> Int32 {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sampark-\(type)-\(UUID().uuidString).json")
        try Data(body).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["check-jsonschema", "--schemafile",
                             schemaDirectory.appendingPathComponent("\(type).json").path, file.path]
        process.standardOutput = FileHandle.nullDevice
        return try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
    }

    @Test func everyTypeHasASchemaAndEveryExampleValidates() async throws {
        let schemas = try FileManager.default.contentsOfDirectory(atPath: Self.schemaDirectory.path)
            .filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }
        #expect(Set(schemas) == Set(Self.examples.map(\.0)), "one schema per message type, no more, no less")
        for (type, encode, _) in Self.examples {
            let status = try await Self.validate(try encode(), type: type)
            #expect(status == 0, "\(type): the encoded example does not validate against its schema")
        }
    }

    /// The documented example of each campaign kind (samples/lists/) is a valid request.
    @Test func everySampleListRequestValidatesAndDecodes() async throws {
        let directory = Self.schemaDirectory.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("samples/lists")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }.sorted()
        #expect(files.map { String($0.dropLast(5)) } == CampaignKind.allCases.map(\.rawValue).sorted(), "one example per kind")
        for file in files {
            let body = Array(try Data(contentsOf: directory.appendingPathComponent(file)))
            #expect(try await Self.validate(body, type: ListBuildRequest.messageType) == 0, "\(file) does not validate")
            let request = try MessageCoding.decode(ListBuildRequest.self, from: body)
            #expect(request.kind.rawValue == String(file.dropLast(5)))
        }
    }

    /// The schema refuses an audience field the kind does not use, as the list-builder does.
    @Test func theListSchemaRefusesAFieldTheKindDoesNotUse() async throws {
        let body = Array(#"{"request_id": "r", "kind": "gotv", "campaign": {"code": "C"}, "audience": {"scope": "CG", "poll_date": "2028-11-17", "schemes": ["ujjwala"]}}"#.utf8)
        #expect(try await Self.validate(body, type: ListBuildRequest.messageType) != 0)
    }

    @Test func examplesRoundTrip() throws {
        for (type, encode, decodesEqual) in Self.examples {
            #expect(try decodesEqual(try encode()), "\(type) does not decode to what was encoded")
        }
    }

    /// The check can fail: a body missing a required field, or with a bad phone, is refused.
    @Test func theSchemaCheckRefusesWhatBreaksTheContract() async throws {
        let missing = Array(#"{"day": "2024-04-25", "scope": "IN", "rows": [], "totals": {}}"#.utf8)
        #expect(try await Self.validate(missing, type: DailyReport.messageType) != 0)
        let offer = CallOffer(attemptID: 1, entryID: 1, listID: 1, centre: "C", campaign: "K", kind: .relay, dialing: .preview,
                              contact: .init(name: "N", language: nil, phone: "+91******3210"), attempt: 0, maxAttempts: 3, expiresAt: Self.now)
        #expect(try await Self.validate(try MessageCoding.encode(offer), type: CallOffer.messageType) == 0)
        for phone in ["12345", "+91*****43210", "9876543210"] {
            var broken = offer
            broken.contact.phone = phone
            #expect(try await Self.validate(try MessageCoding.encode(broken), type: CallOffer.messageType) != 0, "\(phone) passed")
        }
    }

    @Test func keysAreSnakeCaseAndDatesISO8601() throws {
        let body = String(decoding: try MessageCoding.encode(
            CallOutcome(attemptID: 9, entryID: 5, centre: "C", agent: "a", disposition: .noAnswer, startedAt: Self.now, endedAt: Self.now)), as: UTF8.self)
        #expect(body.contains(#""entry_id":5"#) && body.contains(#""attempt_id":9"#))
        #expect(body.contains(#""disposition":"no_answer""#))
        #expect(body.contains(#""started_at":"2024-04-24T23:06:40Z""#))
        #expect(!body.contains("turnout"), "absent optionals are left out, not null")
    }

    /// An outcome as a desk writes it, by hand, not by `MessageCoding`: its names are the
    /// wire's (`CallOutcome` decodes without a key strategy), and a survey question's id is
    /// kept as it came, underscores and all.
    @Test func anOutcomeWrittenByHandDecodesFieldByField() throws {
        let body = Array(#"""
            {"attempt_id": 7, "entry_id": 3, "centre": "DRG-01", "agent": "agent-2", "disposition": "connected",
             "talk_seconds": 40, "answers": {"gas_received": "yes"}, "issue_tags": ["water"], "scheme_feedback": "not_received",
             "turnout": "will_vote", "scheme": "ujjwala", "callback_at": "2024-04-25T10:00:00Z",
             "verification": {"role_confirmed": false, "unit_confirmed": true, "corrections": {"role": "booth_secretary"}},
             "started_at": "2024-04-25T09:00:00Z", "ended_at": "2024-04-25T09:01:00Z", "unknown_field": 1}
            """#.utf8)
        let outcome = try MessageCoding.decode(CallOutcome.self, from: body)
        let at = { (text: String) in ISO8601DateFormatter().date(from: text)! }
        #expect(outcome == CallOutcome(attemptID: 7, entryID: 3, centre: "DRG-01", agent: "agent-2", disposition: .connected,
                                       callbackAt: at("2024-04-25T10:00:00Z"), talkSeconds: 40, answers: ["gas_received": "yes"],
                                       issueTags: ["water"], schemeFeedback: .notReceived, turnout: .willVote, scheme: "ujjwala",
                                       verification: .init(roleConfirmed: false, unitConfirmed: true, corrections: .init(role: "booth_secretary")),
                                       startedAt: at("2024-04-25T09:00:00Z"), endedAt: at("2024-04-25T09:01:00Z")))
    }

    @Test func decodingFailuresNameTheFieldNotTheValue() throws {
        let body = Array(#"{"attempt_id": 1, "entry_id": "9876543210", "centre": "C"}"#.utf8)
        do {
            _ = try MessageCoding.decode(CallOutcome.self, from: body)
            Issue.record("decoded a broken body")
        } catch {
            let reason = describeDecodingFailure(error)
            #expect(reason.contains("entry_id") || reason.contains("entryID"))
            #expect(!reason.contains("9876543210"))
        }
    }
}
