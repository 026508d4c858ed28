import Foundation
import Testing
@testable import IngestWorker
import SamparkCore
import SamparkPostgres
@testable import SamparkRuntime
import SamparkTestSupport

/// The contacts loader's fast path (a batch of all-new voters COPYed straight into
/// `contacts`) must store exactly what the staged path stores, and must decline every batch
/// that needs the merge: a stored voter, a repeat within the batch, a reject.
@Suite struct ContactFastPathTests {
    static let header = ["name", "phone", "booth_code", "gender", "age", "language", "epic", "ac_number", "part_number",
                         "serial_number", "house_number", "schemes"]

    /// Voters of every shape: EPIC and roll, roll only, EPIC only, neither (a household of
    /// beneficiaries sharing a phone), with and without the optional fields, in two states.
    static let newVoters: [[String]] = [
        ["आशा साहू", "98270 10000", "B-1", "F", "34", "HI", "cga0000001", "62", "1", "1", "12", "ujjwala;pm_kisan"],
        ["Ramesh Sahu", "098270-10000", "B-1", "male", "36", "hi", "CGA0000002", "62", "1", "2", "12", ""],
        ["Roll Only", "9827010001", "B-2", "", "", "", "", "62", "2", "2", "", ""],
        ["Roll Only MP", "9827010001", "MP-B-1", "", "", "", "", "62", "2", "2", "", ""],
        ["Epic Only", "9827010002", "B-2", "T", "70", "", "CGA0000003", "", "", "", "4", "pm_awas"],
        ["Beneficiary", "0771-2345678", "B-1", "", "", "", "", "", "", "", "9", "pm_awas"],
        ["Beneficiary Two", "0771-2345678", "B-1", "", "", "", "", "", "", "", "9", "tab\there"],
    ]

    static func rows(_ values: [[String]], from line: Int = 2) -> [IngestBatch.Row] {
        values.enumerated().map { IngestBatch.Row(line: line + $0.offset, values: $0.element) }
    }

    /// Applies one batch as the handler does and says whether the fast path stored it.
    static func apply(_ rows: [IngestBatch.Row], loader: any SourceLoader, on db: FreshDatabase) async throws -> (counts: String, fast: Bool) {
        try await db.pool.transaction { connection in
            var fast = false
            let counts = try IngestApply.apply(rows: rows, columns: header, preRejected: [], loader: loader, on: connection) { counts, stage in
                fast = stage == nil
                return counts
            }
            return (counts.summary, fast)
        }
    }

    static let storedContacts = """
        SELECT concat_ws('|', c.name, c.phone_tail, encode(c.phone_hash, 'hex'), c.phone_kind, b.code, s.code, c.gender, c.age, c.language, c.epic, c.ac_number,
                         c.part_number, c.serial_number, c.house_number, array_to_string(c.schemes, ','))
        FROM contacts c JOIN org_units b ON b.id = c.booth_id JOIN org_units s ON s.id = c.state_id ORDER BY 1
        """

    @Test func allNewVotersStoreExactlyWhatTheStagedPathStores() async throws {
        try await FreshDatabase.with("fast_path") { fast in
            try await FreshDatabase.with("staged_path") { staged in
                for db in [fast, staged] { try await db.load(.orgUnits, FreshDatabase.tree) }
                let viaFast = try await Self.apply(Self.rows(Self.newVoters), loader: ContactLoader(vault: TestPhones.vault), on: fast)
                let viaStage = try await Self.apply(Self.rows(Self.newVoters), loader: StagedOnly(), on: staged)
                #expect(viaFast.fast && !viaStage.fast)
                #expect(viaFast.counts == "read 7: +7 ~0 =0 x0")
                #expect(viaStage.counts == viaFast.counts)
                let stored = try await fast.strings(Self.storedContacts)
                #expect(stored.count == 7)
                #expect(stored == (try await staged.strings(Self.storedContacts)))
                let hash = PhoneVault.hex(TestPhones.vault.hash("+917712345678")).dropFirst(2)
                #expect(stored.contains("Beneficiary Two|5678|\(hash)|landline|B-1|CG|9|tab\there"), "a tab survives both COPYs")
                // Each sealed number opens to the number its hash names, on both paths.
                for db in [fast, staged] {
                    for row in try await db.pool.query("SELECT phone_sealed, phone_hash FROM contacts") {
                        let number = try TestPhones.vault.open([UInt8](try row.decode(Data.self, at: 0)))
                        #expect(TestPhones.vault.hash(number) == [UInt8](try row.decode(Data.self, at: 1)))
                    }
                }
            }
        }
    }

    @Test func aBatchThatNeedsTheMergeTakesTheStagedPath() async throws {
        try await FreshDatabase.with("fast_path_declines") { db in
            try await db.load(.orgUnits, FreshDatabase.tree + "booth,B\u{00C9}1,Booth E acute,AC-62\n")
            #expect(try await Self.apply(Self.rows(Self.newVoters), loader: ContactLoader(vault: TestPhones.vault), on: db).fast)
            func voter(_ name: String, epic: String = "", roll: (String, String, String) = ("", "", ""),
                       phone: String = "9827019999", booth: String = "B-2") -> [String] {
                [name, phone, booth, "", "", "", epic, roll.0, roll.1, roll.2, "", ""]
            }
            let fresh = voter("Fresh", epic: "CGA0000100", roll: ("62", "9", "1"))
            let cases: [(why: String, rows: [[String]], counts: String)] = [
                ("a stored EPIC id", [fresh, voter("Asha again", epic: "CGA0000001")], "read 2: +1 ~1 =0 x0"),
                ("a stored roll position", [fresh, voter("Roll again", roll: ("62", "2", "2"))], "read 2: +1 ~1 =0 x0"),
                ("a stored beneficiary", [fresh, voter("Beneficiary", phone: "0771-2345678", booth: "B-1")], "read 2: +1 ~0 =1 x0"),
                ("an EPIC id twice", [voter("Twice", epic: "CGA0000200"), voter("Twice", epic: "CGA0000200")], "read 2: +1 ~0 =1 x0"),
                ("a roll position twice", [voter("One", roll: ("62", "9", "2")), voter("Two", roll: ("62", "9", "2"))], "read 2: +1 ~0 =0 x1"),
                ("an unknown booth", [voter("Lost", epic: "CGA0000300", booth: "B-404")], "read 1: +0 ~0 =0 x1"),
                ("an invalid row", [voter("Bad Phone", epic: "CGA0000400", phone: "12345")], "read 1: +0 ~0 =0 x1"),
                // The same code in another Unicode form is another code to PostgreSQL (and so
                // to the staged path); Swift's String equality would take the two for one.
                ("a booth code in another Unicode form", [voter("Fresh", epic: "CGA0000500", booth: "B\u{00C9}1"),
                                                          voter("Two", epic: "CGA0000501", booth: "BE\u{0301}1")], "read 2: +1 ~0 =0 x1"),
            ]
            for test in cases {
                let result = try await Self.apply(Self.rows(test.rows), loader: ContactLoader(vault: TestPhones.vault), on: db)
                #expect(!result.fast, "\(test.why)")
                #expect(result.counts == test.counts, "\(test.why)")
                // Each case's new voters are new again in the next case.
                try await db.pool.execute("DELETE FROM contacts WHERE name IN ('Fresh', 'Twice', 'One', 'Two')")
            }
            #expect(try await db.count("SELECT count(*) FROM contacts") == 7)
        }
    }
}

/// The contacts loader without its fast path.
private struct StagedOnly: SourceLoader {
    let contacts = ContactLoader(vault: TestPhones.vault)
    var source: IngestSource { contacts.source }
    var stagedColumns: [(name: String, type: String)] { contacts.stagedColumns }
    var workColumns: [(name: String, type: String)] { contacts.workColumns }
    var stageIndexes: [String] { contacts.stageIndexes }
    func validate(_ fields: Fields) throws(RowRejection) -> [String?] { try contacts.validate(fields) }
    func merge(_ stage: Stage) throws { try contacts.merge(stage) }
}
