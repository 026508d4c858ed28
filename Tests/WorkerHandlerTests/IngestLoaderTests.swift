import Foundation
import Testing
@testable import IngestWorker
import SamparkCore
import SamparkPostgres
@testable import SamparkRuntime
import SamparkTestSupport

/// Each source's rules and merge on a fresh database: every row inserted, updated, unchanged or
/// rejected with its field; the counts add up; loading again changes nothing.
@Suite struct IngestLoaderTests {
    @Test func theOrgTreeLoadsAnyDepthParentsFirstAndRefusesMoves() async throws {
        try await FreshDatabase.with("ingest_org") { db in
            // Children before their parents within one batch, another party's level names,
            // a unit whose parent nobody loaded, a unit that is its own parent.
            let report = try await db.load(.orgUnits, """
                level,code,name,parent_code
                sector,S-1,Sector 1,MDL-1
                mandalam,MDL-1,Mandalam 1,KL
                state,KL,Kerala,
                booth,B-X,Orphan booth,NOPE
                booth,B-Y,Loop,B-Y
                sector,S-1,Sector 1,MDL-1

                """)
            #expect(report.counts.summary == "read 6: +3 ~0 =1 x2")
            #expect(report.firstRejects.map(\.line) == [5, 6])
            #expect(report.firstRejects[0].reason == "no unit has code 'NOPE' (a parent must come before its children)")
            let paths = try await db.strings("""
                SELECT u.code || ' ' || nlevel(u.path) || ' ' || s.code FROM org_units u JOIN org_units s ON s.id = u.state_id ORDER BY u.code
                """)
            #expect(paths == ["KL 1 KL", "MDL-1 2 KL", "S-1 3 KL"])

            let again = try await db.load(.orgUnits, """
                level,code,name,parent_code
                state,KL,Kerala State,
                mandalam,MDL-1,Mandalam 1,KL
                sector,S-1,Sector 1,KL

                """)
            #expect(again.counts.summary == "read 3: +0 ~1 =1 x1")
            #expect(again.firstRejects.map(\.field) == ["parent_code"])
            #expect(try await db.strings("SELECT name FROM org_units WHERE code = 'KL'") == ["Kerala State"])
        }
    }

    @Test func votersAreOnePerEpicOrRollPositionAndHouseholdsStayDistinct() async throws {
        try await FreshDatabase.with("ingest_voters") { db in
            try await db.load(.orgUnits, FreshDatabase.tree)
            let header = "name,phone,booth_code,gender,age,language,epic,ac_number,part_number,serial_number,house_number,schemes"
            let first = try await db.load(.contacts, """
                \(header)
                " आशा साहू ",98270 10000,B-1,F,34,HI,cga0000001,62,1,1,12,ujjwala; pm_kisan;ujjwala
                Ramesh Sahu,098270-10000,B-1,male,36,hi,CGA0000002,62,1,2,12,
                Ramesh Sahu,098270-10000,B-1,male,36,hi,CGA0000002,62,1,2,12,
                Geeta,+91 98270 10001,B-2,F,40,hi,CGA0000003,62,2,1,7,
                Geeta,+91 98270 10001,B-2,F,41,hi,CGA0000003,62,2,1,7,
                No Epic,9827010002,B-2,M,50,hi,,62,2,2,8,
                Other State,9827010003,MP-B-1,M,50,hi,,62,2,2,1,
                Beneficiary,0771-2345678,B-1,,,,,,,,,pm_awas
                Bad Phone,12345,B-1,,,,,,,,,
                Lost Booth,9827010004,B-404,,,,,,,,,
                Half Roll,9827010005,B-1,,,,,62,,,,
                Young,9827010006,B-1,,12,,,,,,,
                Too,Many,Fields,B-1,,,,,,,,,,

                """)
            // Lines 2, 4, 6, 7, 8, 9 stored; line 3 repeats line 4 exactly (unchanged); lines 5
            // and 6 name one EPIC with different ages (line 5 superseded); 10-14 rejected.
            #expect(first.counts.summary == "read 13: +6 ~0 =1 x6")
            #expect(first.firstRejects.map { "\($0.line) \($0.field)" } == ["5 epic", "10 phone", "11 booth_code", "12 part_number", "13 age", "14 -"])
            #expect(first.rejectedByReason.contains { $0.reason == "no unit has code 'B-404'" })
            #expect(try await db.count("SELECT count(*) FROM contacts WHERE phone_hash = \(TestPhones.hash("+919827010000"))") == 2, "a household shares a phone")
            // Stored sealed: the hash finds it, the key opens it, the last digits show it masked.
            let sealed = try await db.pool.query("SELECT phone_sealed, phone_tail FROM contacts WHERE phone_hash = \(TestPhones.hash("+919827010000"))")
            for row in sealed {
                #expect(try TestPhones.vault.open([UInt8](try row.decode(Data.self, at: 0))) == "+919827010000")
                #expect(try row.decode(String.self, at: 1) == "0000")
            }
            let asha = try await db.strings("""
                SELECT name || '|' || language || '|' || epic || '|' || array_to_string(schemes, ',') FROM contacts WHERE ac_number = 62 AND serial_number = 1 AND part_number = 1
                """)
            #expect(asha == ["आशा साहू|hi|CGA0000001|ujjwala,pm_kisan"])
            #expect(try await db.strings("SELECT phone_kind FROM contacts WHERE name = 'Beneficiary'") == ["landline"])
            #expect(try await db.count("SELECT count(*) FROM contacts WHERE ac_number = 62 AND part_number = 2 AND serial_number = 2") == 2,
                    "the same roll position in two states is two voters")

            // The same file again: nothing changes.
            let same = try await db.load(.contacts, """
                \(header)
                " आशा साहू ",98270 10000,B-1,F,34,HI,cga0000001,62,1,1,12,ujjwala; pm_kisan;ujjwala
                Ramesh Sahu,098270-10000,B-1,male,36,hi,CGA0000002,62,1,2,12,

                """)
            #expect(same.counts.summary == "read 2: +0 ~0 =2 x0")

            // Updates merge: a new age by EPIC; a voter moved to another roll position (found
            // by EPIC); an EPIC added to a voter found by roll position; conflicts rejected.
            let update = try await db.load(.contacts, """
                \(header)
                Ramesh Sahu,098270-10000,B-1,male,37,hi,CGA0000002,62,1,2,12,
                Geeta,+91 98270 10001,B-2,F,41,hi,CGA0000003,62,2,9,7,
                No Epic,9827010002,B-2,M,50,hi,CGA0000009,62,2,2,8,
                Thief,9827010007,B-1,M,50,hi,CGA0000001,62,2,1,12,
                Squatter,9827010008,B-1,M,50,hi,CGA0000077,62,1,1,12,
                Squatter,9827010008,B-1,M,50,hi,CGA0000077,62,1,1,12,

                """)
            // The Squatter's two identical lines: the later is rejected, and the earlier with it
            // (it is not "unchanged": nothing of it was stored).
            #expect(update.counts.summary == "read 6: +0 ~3 =0 x3")
            #expect(update.firstRejects.map(\.reason) == ["the EPIC id and the roll position name two different voters",
                                                          "the roll position belongs to a voter with another EPIC id",
                                                          "the roll position belongs to a voter with another EPIC id"])
            #expect(try await db.count("SELECT count(*) FROM contacts") == 6, "updates merge, never duplicate")
            #expect(try await db.strings("SELECT serial_number::text FROM contacts WHERE epic = 'CGA0000003'") == ["9"])
            #expect(try await db.strings("SELECT epic FROM contacts WHERE name = 'No Epic'") == ["CGA0000009"])

            // A scheme list that names the voter by roll position only: the scheme is added, the
            // EPIC id, age and language stay.
            let schemes = try await db.load(.contacts, """
                name,phone,booth_code,ac_number,part_number,serial_number,schemes
                No Epic,9827010002,B-2,62,2,2,pm_awas

                """)
            #expect(schemes.counts.summary == "read 1: +0 ~1 =0 x0")
            #expect(try await db.strings("""
                SELECT epic || ' ' || age || ' ' || language || ' ' || array_to_string(schemes, ',') FROM contacts WHERE name = 'No Epic'
                """) == ["CGA0000009 50 hi pm_awas"])

            // A code that looks like a phone number is not quoted back.
            let shifted = try await db.load(.contacts, "name,phone,booth_code\nX,9827010009,98270 10009\n")
            #expect(shifted.firstRejects.map(\.reason) == ["no unit has the code given (not shown: it does not look like a code)"])
        }
    }

    @Test func peopleKeepSeveralPhonesAndFamiliesStayDistinct() async throws {
        try await FreshDatabase.with("ingest_people") { db in
            try await db.load(.orgUnits, FreshDatabase.tree)
            let csv = """
                name,phone,role,unit_code,committee,responsibilities
                Ram Prasad,98270 20000; 0771-2345678,president,DRG,district committee,"media, IT"
                Sita Prasad,98270 20000,booth_worker,B-1,booth committee,
                Ram Prasad,98270 20000,booth_worker,B-1,booth committee,
                Nobody,98270 20001,booth_worker,B-404,,
                Bad,98270 20002;12345,booth_worker,B-1,,

                """
            let report = try await db.load(.people, csv)
            #expect(report.counts.summary == "read 5: +3 ~0 =0 x2")
            #expect(report.firstRejects.map(\.field) == ["unit_code", "phones"])
            let others = try await db.pool.query("""
                SELECT other_phones_sealed[1], cardinality(other_phones_sealed), other_phone_hashes = ARRAY[\(TestPhones.hash("+917712345678"))]
                FROM people WHERE role = 'president'
                """)
            #expect(others.count == 1)
            for row in others {
                #expect(try TestPhones.vault.open([UInt8](try row.decode(Data.self, at: 0))) == "+917712345678")
                #expect(try row.decode(Int.self, at: 1) == 1 && row.decode(Bool.self, at: 2))
            }
            #expect(try await db.load(.people, csv).counts.summary == "read 5: +0 ~0 =3 x2")
            let changed = try await db.load(.people, """
                name,phones,role,unit_code
                Sita Prasad,98270 20000,booth_president,B-1

                """)
            #expect(changed.counts.summary == "read 1: +0 ~1 =0 x0")
            #expect(try await db.count("SELECT count(*) FROM people") == 3)
        }
    }

    @Test func boothResultsCentresCalendarAndOptOuts() async throws {
        try await FreshDatabase.with("ingest_misc") { db in
            try await db.load(.orgUnits, FreshDatabase.tree)
            let results = """
                election,booth_code,party,votes,electors,turnout
                AE2023,B-1,BJP,420,1000,800
                AE2023,B-1,INC,380,1000,800
                AE2023,B-2,BJP,900,1000,800
                AE2023,B-404,BJP,1,,
                GE2024,B-1,BJP,-3,,

                """
            #expect(try await db.load(.boothResults, results).counts.summary == "read 5: +2 ~0 =0 x3")
            #expect(try await db.load(.boothResults, results).counts.summary == "read 5: +0 ~0 =2 x3")

            let centres = """
                code,name,region_codes,seats,shifts,languages
                DRG-01,Durg centre,DRG;MP,36,09:00-13:00;13:00-21:00,hi;EN
                RJN 01,Bad code,DRG,12,,
                CDW-01,Chhindwara,NOPE,12,,
                BAD-02,Bad shift,DRG,12,21:00-09:00,

                """
            let centreReport = try await db.load(.callCentres, centres)
            #expect(centreReport.counts.summary == "read 4: +1 ~0 =0 x3")
            #expect(centreReport.firstRejects.map(\.field) == ["code", "region_codes", "shifts"])
            #expect(try await db.strings("""
                SELECT to_char(calls_from, 'HH24:MI') || '-' || to_char(calls_to, 'HH24:MI') || ' ' || array_to_string(languages, ',')
                    || ' ' || (SELECT count(*) FROM call_centre_regions r WHERE r.centre_id = c.id) FROM call_centres c
                """) == ["09:00-21:00 hi,en 2"])
            #expect(try await db.load(.callCentres, centres).counts.summary == "read 4: +0 ~0 =1 x3")
            #expect(try await db.load(.callCentres, "code,name,region_codes,seats\nDRG-01,Durg centre,DRG,36\n").counts.summary
                    == "read 1: +0 ~1 =0 x0")
            #expect(try await db.count("SELECT count(*) FROM call_centre_regions") == 1, "a reload replaces the regions")
            // A centre's broker users are named after its code, lowercased, with -gateway for its
            // gateway: a code that would share or take another centre's users is refused.
            let clashing = try await db.load(.callCentres, """
                code,name,region_codes,seats
                drg-01,Same users as DRG-01,DRG,10
                DRG-02-gateway,Looks like a gateway,DRG,10
                KRB-01,Korba,DRG,10
                krb-01,Korba again,DRG,10

                """)
            #expect(clashing.counts.summary == "read 4: +1 ~0 =0 x3", "\(clashing.firstRejects)")
            #expect(clashing.firstRejects.map(\.line) == [2, 3, 5])
            #expect(clashing.firstRejects.allSatisfy { $0.field == "code" })

            let calendar = """
                constituency_code,phase,poll_date,poll_close
                AC-62,2,2026-11-17,17:00
                AC-404,1,2026-11-07,18:00
                AC-62-MP,1,2026-02-30,18:00

                """
            #expect(try await db.load(.pollCalendar, calendar).counts.summary == "read 3: +1 ~0 =0 x2")
            #expect(try await db.strings("SELECT to_char(poll_closes_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM poll_calendar")
                    == ["2026-11-17 11:30"], "17:00 IST")

            let optOuts = """
                phone,source,time
                98270 30000,helpline,2026-11-20 10:00
                +91 98270 30000,ivr,2026-11-19T10:00:00+05:30
                0771 2345678,agent,
                12345,helpline,
                9827030001,helpline,yesterday

                """
            #expect(try await db.load(.optOuts, optOuts).counts.summary == "read 5: +2 ~0 =1 x2")
            #expect(try await db.strings("SELECT source || ' ' || to_char(requested_at AT TIME ZONE 'Asia/Kolkata', 'MM-DD HH24:MI') FROM opt_outs WHERE phone_hash = \(TestPhones.hash("+919827030000"))")
                    == ["ivr 11-19 10:00"], "the earliest request is kept")
            #expect(try await db.load(.optOuts, optOuts).counts.summary == "read 5: +0 ~0 =3 x2")
        }
    }

    @Test func turnoutMarksFindVotersByEpicOrRollPosition() async throws {
        try await FreshDatabase.with("ingest_turnout") { db in
            try await db.load(.orgUnits, FreshDatabase.tree)
            try await db.load(.contacts, """
                name,phone,booth_code,epic,ac_number,part_number,serial_number
                A,9827040000,B-1,CGA0000001,62,1,1
                B,9827040001,B-1,CGA0000002,62,1,2
                C,9827040002,MP-B-1,MPA0000001,62,1,2
                D,9827040003,B-2,,62,2,5

                """)
            let marks = try await db.load(.turnoutMarks, """
                epic,ac_number,part_number,serial_number,state_code,voted_at
                cga0000001,,,,,2026-11-17 09:15
                ,62,2,5,,2026-11-17 10:00
                ,62,1,2,,2026-11-17 10:05
                ,62,1,2,CG,2026-11-17 10:06
                CGA0000404,,,,,
                ,62,1,,,
                CGA0000001,,,,,2026-11-17 08:00

                """)
            // Line 4 names two voters (no state), 6 no voter, 7 no roll position; line 8 marks
            // the first voter earlier (the earliest kept, line 2 then adds nothing).
            #expect(marks.counts.summary == "read 7: +3 ~0 =1 x3")
            #expect(marks.firstRejects.map(\.reason) == ["the roll position matches voters in more than one state; add state_code",
                                                         "no voter has this EPIC id",
                                                         "is empty; a mark names the voter by epic, or by ac_number, part_number and serial_number"])
            #expect(try await db.strings("""
                SELECT c.name || ' ' || to_char(m.voted_at AT TIME ZONE 'Asia/Kolkata', 'HH24:MI') FROM turnout_marks m JOIN contacts c ON c.id = m.contact_id ORDER BY c.name
                """) == ["A 08:00", "B 10:06", "D 10:00"])

            // One mark as a message: stored at once; a mark naming nobody is refused whole.
            let at = Date(timeIntervalSince1970: 1_794_000_000)
            try await db.handle(TurnoutMarkHandler(), TurnoutMark(epic: "MPA0000001", votedAt: at, source: "agent-7"))
            #expect(try await db.count("SELECT count(*) FROM turnout_marks") == 4)
            await #expect(throws: HandlerError.self) {
                try await db.handle(TurnoutMarkHandler(), TurnoutMark(acNumber: 62, partNumber: 9, serialNumber: 9, votedAt: at, source: "agent-7"))
            }
            #expect(try await db.count("SELECT count(*) FROM turnout_marks") == 4)
        }
    }

    @Test func materialIsStoredOnceAndTheNewestVersionIsCurrentWithinItsScope() async throws {
        try await FreshDatabase.with("ingest_material") { db in
            try await db.load(.orgUnits, FreshDatabase.tree)
            func material(_ version: Int, _ scope: [String], _ text: String) -> MaterialPublished {
                MaterialPublished(id: "relay-1", version: version, title: "Programme \(version)", scripts: ["hi": text, "en": text],
                                  questions: [.init(id: "q1", text: ["hi": "सुना?"], answers: ["yes", "no"])], scope: scope)
            }
            try await db.handle(MaterialHandler(), material(1, ["CG", "MP"], "v1"))
            try await db.handle(MaterialHandler(), material(1, ["CG", "MP"], "v1"))
            try await db.handle(MaterialHandler(), material(3, ["CG"], "v3"))
            try await db.handle(MaterialHandler(), material(2, ["CG"], "v2 arriving late"))
            #expect(try await db.count("SELECT count(*) FROM materials") == 3, "published twice, stored once")
            #expect(try await db.strings("""
                SELECT u.code || ' v' || m.version || ' ' || (m.scripts ->> 'en') FROM current_materials m JOIN org_units u ON u.id = m.unit_id ORDER BY u.code
                """) == ["CG v3 v3", "MP v1 v1"])
            await #expect(throws: HandlerError.self) { try await db.handle(MaterialHandler(), material(4, ["NOPE"], "x")) }
            await #expect(throws: HandlerError.self) { try await db.handle(MaterialHandler(), material(5, ["CG"], " ")) }
            #expect(try await db.count("SELECT count(*) FROM materials") == 3)
        }
    }

    @Test func aLoadInManyBatchesIsReportedOnceAndAddsUp() async throws {
        try await FreshDatabase.with("ingest_batches") { db in
            try await db.load(.orgUnits, FreshDatabase.tree)
            var csv = "name,phone,booth_code\n"
            for i in 0..<95 {
                csv += i % 10 == 9 ? "Bad \(i),12345,B-1\n" : "Voter \(i),98270\(String(format: "%05d", 50_000 + i)),B-\(1 + i % 2)\n"
            }
            let report = try await db.load(.contacts, csv, batchSize: 10)
            #expect(report.batches == 10)
            #expect(report.counts.summary == "read 95: +86 ~0 =0 x9")
            #expect(report.rejectedByReason.map(\.count) == [9])
            #expect(report.firstRejects.first?.line == 11)
            #expect(try await db.count("SELECT count(*) FROM ingest_rejects") == 9)
            let ofThisLoad = "FROM outbox WHERE message_id LIKE '\(report.loadID)/%'"
            #expect(try await db.count("SELECT count(*) \(ofThisLoad) AND type = 'ingest.completed.v1'") == 2,
                    "one announcement (not mandatory) and one reply")
            #expect(try await db.count("SELECT count(*) \(ofThisLoad) AND mandatory") == 0,
                    "the announcement and the replies are not mandatory: nobody listening is no failure")
            #expect(try await db.count("SELECT count(*) \(ofThisLoad) AND type = 'ingest.batch.applied.v1'") == 10)
        }
    }
}

/// The checks in Swift that keep a value PostgreSQL would refuse out of a batch's statements.
@Suite struct RowValueTests {
    @Test(arguments: ["2024-+1-05", "2024-02-30", "2024-13-01", "24-01-05", "2024-1-5", "２０２４-01-05"])
    func datesThatAreNot(_ text: String) {
        #expect(IngestTime.date(text) == nil)
    }

    @Test(arguments: [("2026-11-17 09:15", "2026-11-17 09:15:00+05:30"), ("2026-11-17T09:15:30Z", "2026-11-17 09:15:30+00:00"),
                      ("2026-11-17T09:15:00-04:00", "2026-11-17 09:15:00-04:00"), ("2026-11-17 09:15:00+14:00", "2026-11-17 09:15:00+14:00")])
    func timestamps(_ text: String, _ stored: String) {
        #expect(IngestTime.timestamp(text) == stored)
    }

    @Test(arguments: ["2026-11-17 09:15+16:00", "2026-11-17 +9:15", "2026-11-17 09:+5", "2026-11-17 24:00", "2026-11-17", "yesterday"])
    func timestampsThatAreNot(_ text: String) {
        #expect(IngestTime.timestamp(text) == nil)
    }

    @Test func digitsWithMarksAreNotPhoneDigits() {
        #expect(PhoneNumber.parse("98765 4321\u{301}0") == nil)
        #expect(PhoneNumber.parse("9876543210") != nil)
    }

    /// COPY's text format: backslash, tab, line feed and carriage return escaped, everything
    /// between them as it is, NULL as `\N`.
    @Test func copyTextEscapesOnlyWhatCopyReads() {
        var buffer: [UInt8] = []
        CopyText.appendRow(["\\x0aff", "a\tb\nc\rd\\", "नाम", nil, "", "\\"], to: &buffer)
        #expect(String(decoding: buffer, as: UTF8.self) == "\\\\x0aff\ta\\tb\\nc\\rd\\\\\tनाम\t\\N\t\t\\\\\n")
    }

    @Test func overlongValuesAreRejectedNotStored() throws {
        let fields = Fields(columns: Columns(["name"]), values: [String(repeating: "अ", count: 301)])
        #expect(throws: RowRejection("name", "is longer than 300 characters")) { _ = try fields.required("name") }
    }
}

/// Two batches storing the same new voter at once (two ingest-workers, one file with the voter
/// twice, or two files): the second waits on the first's unique index entry, fails when the
/// first commits, and is retried (transient); the retry finds the voter and merges into it.
@Suite struct ConcurrentBatchTests {
    @Test func aBatchThatLosesARaceForANewVoterIsRetriedAndThenMerges() async throws {
        try await FreshDatabase.with("ingest_race") { db in
            try await db.load(.orgUnits, FreshDatabase.tree)
            @Sendable func batch(_ id: String, age: Int) -> IngestBatch {
                IngestBatch(loadID: id, source: .contacts, file: "contacts.csv", batchNumber: 1, isLast: true,
                            columns: ["name", "phone", "booth_code", "epic", "age"],
                            rows: [.init(line: 2, values: ["Asha", "9827010000", "B-1", "CGR0000001", String(age)])])
            }
            // The first batch stores the voter and holds its transaction open until the second
            // is seen waiting for it.
            let release = DispatchSemaphore(value: 0)
            let first = Task {
                try await db.pool.transaction { connection in
                    let context = HandlerContext(connection: connection, messageID: "first/1", messageType: IngestBatch.messageType,
                                                 correlationID: nil, replyTo: nil, queue: "test", appID: "test")
                    try IngestBatchHandler(vault: TestPhones.vault).handle(batch("first", age: 40), context: context)
                    release.wait()
                }
            }
            let second = Task { try await db.handle(IngestBatchHandler(vault: TestPhones.vault), batch("second", age: 41), messageID: "second/1") }
            let admin = PostgresPool(configuration: db.pool.configuration, size: 1)
            #expect(try await eventually(timeout: .seconds(30)) {
                try await admin.query("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")[0]
                    .decode(Int.self, at: 0) == 1
            }, "the second batch waits on the first's new voter")
            release.signal()
            try await first.value
            do {
                try await second.value
                Issue.record("the second batch stored a duplicate voter or missed the race")
            } catch let error as HandlerError {
                guard case .transient = error else { Issue.record("not retried: \(error)"); return }
            }
            // The redelivery (what the delay queue does) merges into the stored voter.
            try await db.handle(IngestBatchHandler(vault: TestPhones.vault), batch("second", age: 41), messageID: "second/1")
            #expect(try await db.report("second").counts.summary == "read 1: +0 ~1 =0 x0")
            #expect(try await db.strings("SELECT age::text FROM contacts") == ["41"])
            await admin.shutdown()
        }
    }
}
