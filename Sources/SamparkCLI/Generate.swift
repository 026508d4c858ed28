import ArgumentParser
import Foundation
import SamparkCore

/// `sampark generate`: writes the source files of a state-sized network, shaped like Madhya
/// Pradesh (10 divisions, 55 districts, 230 assembly constituencies in 29 Lok Sabha seats,
/// about 65,000 booths in shakti kendras and mandals, committees and workers at every level,
/// voters and beneficiaries, past results, a three-phase poll calendar, 30 call centres), and
/// a list request of every campaign kind. For demos and load; every name and number is made
/// up (seeded: the same seed writes the same files).
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write a state-sized network's source files and list requests (for demos and load).",
        discussion: "The files load with `sampark load <source> <dir>/<source>.csv`; the list requests are in <dir>/lists/.")

    @Option(help: "The folder to write into.") var out: String
    @Option(help: "Voters and beneficiaries.") var voters = 1_000_000
    @Option(help: "Booths (about 65,000 in Madhya Pradesh).") var booths = 65_000
    @Option(help: "The first phase's poll day (IST), YYYY-MM-DD; the others follow 10 and 20 days later. Default: today.")
    var pollDate: String?
    @Option(help: "The seed.") var seed: UInt64 = 2028

    static let divisions = ["Bhopal", "Chambal", "Gwalior", "Indore", "Jabalpur", "Narmadapuram", "Rewa", "Sagar", "Shahdol", "Ujjain"]
    static let districts = [
        "Bhopal", "Raisen", "Rajgarh", "Sehore", "Vidisha", "Bhind", "Morena", "Sheopur", "Ashoknagar", "Datia", "Guna", "Gwalior",
        "Shivpuri", "Alirajpur", "Barwani", "Burhanpur", "Dhar", "Indore", "Jhabua", "Khandwa", "Khargone", "Balaghat", "Chhindwara",
        "Jabalpur", "Katni", "Mandla", "Narsinghpur", "Seoni", "Dindori", "Pandhurna", "Betul", "Harda", "Narmadapuram", "Rewa",
        "Satna", "Sidhi", "Singrauli", "Maihar", "Mauganj", "Chhatarpur", "Damoh", "Panna", "Sagar", "Tikamgarh", "Niwari",
        "Anuppur", "Shahdol", "Umaria", "Agar Malwa", "Dewas", "Mandsaur", "Neemuch", "Ratlam", "Shajapur", "Ujjain",
    ]
    /// How many districts each division holds, in the order above (55 in all).
    static let districtsPerDivision = [5, 3, 8, 8, 9, 3, 7, 6, 3, 3]
    static let firstNames = ["Aarti", "Anil", "Asha", "Balram", "Bharti", "Deepak", "Durga", "Ganesh", "Geeta", "Hemant", "Indira",
                             "Jagdish", "Kamla", "Kishore", "Lakshmi", "Mahesh", "Meena", "Mohan", "Neha", "Om Prakash", "Pooja",
                             "Rajesh", "Rekha", "Ramesh", "Savita", "Shyam", "Sunita", "Suresh", "Usha", "Vinod"]
    static let surnames = ["Ahirwar", "Chouhan", "Dangi", "Jain", "Kushwaha", "Lodhi", "Meena", "Patel", "Rajput", "Sahu",
                           "Sharma", "Shrivastava", "Singh", "Thakur", "Tiwari", "Verma", "Yadav", "Mishra", "Pandey", "Gupta"]
    static let schemes = ["ladli_behna", "ujjwala", "pm_kisan", "pmay", "ayushman"]

    func run() throws {
        let dir = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("lists"), withIntermediateDirectories: true)
        var random = SplitMix(seed: seed)
        let day = try pollDate.map { text -> Date in
            guard let date = IST.midnight(of: text) else { throw ValidationError("--poll-date: \(text) is not YYYY-MM-DD") }
            return date
        } ?? IST.midnight(of: ReportCommand.todayIST)!
        let started = Date()

        // The tree: state → divisions → districts → ACs → mandals → shakti kendras → booths.
        let units = try CSVFile(dir.appendingPathComponent("org_units.csv"), header: ["level", "code", "name", "parent_code"])
        let people = try CSVFile(dir.appendingPathComponent("people.csv"),
                                 header: ["name", "phones", "role", "unit_code", "committee", "responsibilities"])
        var phoneCounter = 0
        func personPhone() -> String {
            phoneCounter += 1
            return "+9170" + String(format: "%08d", phoneCounter)
        }
        func name() -> String {
            "\(Self.firstNames[Int(random.next() % UInt64(Self.firstNames.count))]) \(Self.surnames[Int(random.next() % UInt64(Self.surnames.count))])"
        }
        func committee(_ unit: String, _ label: String, _ roles: [(String, Int)], responsibilities: String) {
            for (role, count) in roles {
                for _ in 0..<count { people.write([name(), personPhone(), role, unit, label, responsibilities]) }
            }
        }
        units.write(["state", "MP", "Madhya Pradesh", ""])
        committee("MP", "state executive", [("state_president", 1), ("general_secretary", 3), ("vice_president", 6), ("secretary", 8),
                                            ("war_room_incharge", 2)], responsibilities: "State election management")
        let acCount = 230, pcCount = 29
        let boothsPerAC = max(1, booths / acCount)
        var acs: [(code: String, number: Int, district: String)] = []
        var districtCodes: [String] = []
        var districtIndex = 0, acNumber = 0
        for (d, division) in Self.divisions.enumerated() {
            let divisionCode = "DIV-\(String(format: "%02d", d + 1))"
            units.write(["division", divisionCode, "\(division) division", "MP"])
            committee(divisionCode, "division committee", [("division_incharge", 1), ("division_secretary", 2), ("member", 5)],
                      responsibilities: "Division coordination")
            for _ in 0..<Self.districtsPerDivision[d] {
                let districtName = Self.districts[districtIndex]
                districtIndex += 1
                let districtCode = "D\(String(format: "%02d", districtIndex))"
                districtCodes.append(districtCode)
                units.write(["district", districtCode, districtName, divisionCode])
                committee(districtCode, "district committee", [("district_president", 1), ("general_secretary", 2), ("vice_president", 3),
                                                               ("secretary", 4), ("it_cell_incharge", 1)],
                          responsibilities: "District organisation, daily report to the state")
                // 230 ACs over 55 districts: four each, five in the first twenty.
                for _ in 0..<(districtIndex <= 10 ? 5 : 4) where acNumber < acCount {
                    acNumber += 1
                    let ac = "AC-\(String(format: "%03d", acNumber))"
                    acs.append((ac, acNumber, districtCode))
                    // Lok Sabha seats cross district lines, so they are no unit of the party's tree:
                    // each AC's name says its seat (eight ACs to a seat, 29 seats).
                    let seat = (acNumber - 1) * pcCount / acCount + 1
                    units.write(["ac", ac, "\(districtName) \(acNumber) (Lok Sabha \(String(format: "%02d", seat)))", districtCode])
                    committee(ac, "assembly committee", [("ac_convenor", 1), ("ac_incharge", 1), ("member", 6)],
                              responsibilities: "Assembly election management")
                    people.write([name(), personPhone(), "candidate", ac, "", "Candidate, \(districtName) \(acNumber)"])
                }
            }
        }
        // Mandals of about 55 booths, shakti kendras of 5.
        var boothCodes: [(code: String, ac: Int, part: Int)] = []
        boothCodes.reserveCapacity(acs.count * boothsPerAC)
        for ac in acs {
            var part = 0
            let mandals = max(1, boothsPerAC / 55)
            for m in 0..<mandals {
                let mandal = "M-\(String(format: "%03d", ac.number))-\(m + 1)"
                units.write(["mandal", mandal, "Mandal \(m + 1), AC \(ac.number)", ac.code])
                committee(mandal, "mandal committee", [("mandal_president", 1), ("mandal_secretary", 2), ("member", 4)],
                          responsibilities: "Mandal programmes and relay")
                let boothsHere = m == mandals - 1 ? boothsPerAC - part : boothsPerAC / mandals
                var k = 0
                while k < boothsHere {
                    let sk = "SK-\(String(format: "%03d", ac.number))-\(m + 1)-\(k / 5 + 1)"
                    units.write(["shakti_kendra", sk, "Shakti kendra \(k / 5 + 1), mandal \(m + 1), AC \(ac.number)", mandal])
                    committee(sk, "shakti kendra", [("shakti_kendra_pramukh", 1), ("member", 2)], responsibilities: "Five booths")
                    for _ in 0..<min(5, boothsHere - k) {
                        part += 1
                        let booth = "B-\(String(format: "%03d", ac.number))-\(String(format: "%03d", part))"
                        units.write(["booth", booth, "Booth \(part), AC \(ac.number)", sk])
                        committee(booth, "booth committee", [("booth_president", 1), ("booth_worker", 2)], responsibilities: "Booth \(part) roll")
                        boothCodes.append((booth, ac.number, part))
                        k += 1
                    }
                }
            }
        }
        try units.close()
        try people.close()
        say("org_units.csv: \(units.rows) units; people.csv: \(people.rows) office-bearers and workers")

        // Voters and beneficiaries: a fifth share a household's phone; a third have schemes.
        let contacts = try CSVFile(dir.appendingPathComponent("contacts.csv"), header: [
            "name", "phone", "booth_code", "gender", "age", "language", "epic", "ac_number", "part_number", "serial_number",
            "house_number", "schemes",
        ])
        var serials = [Int](repeating: 0, count: boothCodes.count)
        var phone = 0, house = 0
        var optOutPhones: [String] = []
        for i in 0..<voters {
            let b = i % boothCodes.count
            let booth = boothCodes[b]
            if i == 0 || random.unit() >= 0.2 {
                phone += 1
                house += 1
            }
            serials[b] += 1
            let number = "+919" + String(format: "%09d", phone)
            if random.unit() < 0.004 { optOutPhones.append(number) }
            var theirs: [String] = []
            if random.unit() < 0.35 {
                theirs.append(Self.schemes[Int(random.next() % 5)])
                if random.unit() < 0.3 { theirs.append(Self.schemes[Int(random.next() % 5)]) }
            }
            contacts.write([name(), number, booth.code, random.unit() < 0.49 ? "F" : "M", String(18 + Int(random.next() % 70)),
                            random.unit() < 0.9 ? "hi" : "en", "MPV" + String(format: "%07d", i + 1), String(booth.ac), String(booth.part),
                            String(serials[b]), String(house % 400 + 1), Array(Set(theirs)).sorted().joined(separator: ";")])
            if (i + 1) % 250_000 == 0 { say("contacts.csv: \(i + 1) of \(voters)") }
        }
        try contacts.close()

        // Past results: the 2023 assembly and 2024 Lok Sabha elections, booth by booth. Each AC
        // leans its own way, each booth a little more, so about a quarter of the booths are weak.
        let results = try CSVFile(dir.appendingPathComponent("booth_results.csv"),
                                  header: ["election", "booth_code", "party", "votes", "electors", "turnout"])
        var lean: [Int: Double] = [:]
        for ac in acs { lean[ac.number] = 0.40 + random.unit() * 0.16 }
        for election in ["AE2023", "LS2024"] {
            for booth in boothCodes {
                let electors = 900 + Int(random.next() % 500)
                let polled = Int(Double(electors) * (0.68 + random.unit() * 0.14))
                let share = min(0.8, max(0.15, lean[booth.ac]! + (random.unit() - 0.5) * 0.2 + (election == "LS2024" ? 0.04 : 0)))
                let bjp = Int(Double(polled) * share)
                let inc = Int(Double(polled - bjp) * (0.75 + random.unit() * 0.15))
                let bsp = (polled - bjp - inc) / 2
                for (party, votes) in [("BJP", bjp), ("INC", inc), ("BSP", bsp), ("IND", polled - bjp - inc - bsp)] {
                    results.write([election, booth.code, party, String(votes), String(electors), String(polled)])
                }
            }
        }
        try results.close()

        // Three phases, a third of the ACs each; the polls close at 18:00.
        let calendar = try CSVFile(dir.appendingPathComponent("poll_calendar.csv"),
                                   header: ["constituency_code", "phase", "poll_date", "poll_close", "election"])
        var phaseOne: [String] = [], phaseTwo: [String] = []
        for (i, ac) in acs.enumerated() {
            let phase = i % 3 + 1
            if phase == 1 { phaseOne.append(ac.code) } else if phase == 2 { phaseTwo.append(ac.code) }
            let date = IST.day(of: day.addingTimeInterval(Double((phase - 1) * 10 * 86_400)))
            calendar.write([ac.code, String(phase), date, "18:00", "AE2028"])
        }
        try calendar.close()

        // 30 centres: one per division (60 seats) and twenty district centres (36 seats).
        let centres = try CSVFile(dir.appendingPathComponent("call_centres.csv"),
                                  header: ["code", "name", "region_codes", "seats", "shifts", "languages"])
        for (d, division) in Self.divisions.enumerated() {
            centres.write(["CC-DIV\(String(format: "%02d", d + 1))", "\(division) division call centre", "DIV-\(String(format: "%02d", d + 1))",
                           "60", "09:00-15:00;15:00-21:00", "hi;en"])
        }
        for i in 0..<20 {
            let district = districtCodes[i * districtCodes.count / 20]
            centres.write(["CC-\(district)", "\(Self.districts[i * districtCodes.count / 20]) district call centre", district, "36",
                           "09:00-15:00;15:00-21:00", "hi"])
        }
        try centres.close()

        let optOuts = try CSVFile(dir.appendingPathComponent("opt_outs.csv"), header: ["phone", "source", "time"])
        for number in optOutPhones { optOuts.write([number, "helpline", ""]) }
        try optOuts.close()

        try write(dir.appendingPathComponent("material.json"), [
            "id": "mp-jan-samvad", "version": 1, "title": "Jan Samvad: the government's work, and what the people say",
            "scripts": ["hi": "नमस्ते! मैं प्रदेश पार्टी कार्यालय से बोल रहा हूँ। सरकार की योजनाओं पर आपकी राय जानना चाहते हैं।",
                        "en": "Hello! I am calling from the state party office. We would like your views on the government's schemes."],
            "questions": [["id": "q1", "text": ["hi": "क्या आपको योजना का लाभ मिला?", "en": "Did the scheme's benefit reach you?"],
                           "answers": ["yes", "no", "partly"]],
                          ["id": "q2", "text": ["hi": "आपके क्षेत्र की सबसे बड़ी समस्या?", "en": "Your area's biggest problem?"],
                           "answers": ["water", "roads", "jobs", "electricity", "none"]]],
            "scope": ["MP"],
        ])
        let today = IST.day(of: day)
        // The day's plan: each campaign in its own hours (the dispatcher serves the most urgent
        // kind first, so campaigns sharing hours would wait for those above them).
        let lists: [(String, [String: Any])] = [
            ("relay", ["request_id": "mp-relay-\(seed)", "kind": "relay",
                       "campaign": ["code": "MP-JAN-SAMVAD-RELAY", "name": "Jan Samvad: relay to mandals, shakti kendras and booths",
                                    "material": "mp-jan-samvad", "calling_hours": "14:30-17:00"],
                       "audience": ["scope": "MP"]]),
            ("scheme_feedback", ["request_id": "mp-schemes-\(seed)", "kind": "scheme_feedback",
                                 "campaign": ["code": "MP-SCHEME-FEEDBACK", "name": "Ladli Behna and Ujjwala: did it reach you?",
                                              "material": "mp-jan-samvad", "recall_days": 7, "household_cap": 1,
                                              "calling_hours": "09:00-12:00"],
                                 "audience": ["scope": "MP", "schemes": ["ladli_behna", "ujjwala"]]]),
            ("committee_reach", ["request_id": "mp-committees-\(seed)", "kind": "committee_reach",
                                 "campaign": ["code": "MP-BOOTH-COMMITTEES", "name": "Two people of every booth committee", "recall_days": 3,
                                              "calling_hours": "17:00-21:00"],
                                 "audience": ["scope": "MP", "levels": ["booth"], "roles": ["booth_president", "booth_worker"],
                                              "per_committee": 2]]),
            ("weak_booth", ["request_id": "mp-weak-\(seed)", "kind": "weak_booth",
                            "campaign": ["code": "MP-WEAK-BOOTHS", "name": "Booths lost or under 40% in 2023", "recall_days": 7,
                                         "calling_hours": "12:00-14:30"],
                            "audience": ["scope": "MP", "election": "AE2023", "party": "BJP", "share_below": 0.4]]),
            // Polling day in the Indore division's phase-1 ACs: its centres call turnout first.
            ("gotv", ["request_id": "mp-gotv-\(today)", "kind": "gotv",
                      "campaign": ["code": "MP-GOTV-PHASE1-INDORE", "name": "Phase 1 polling day, Indore division: have you voted?",
                                   "dialing": "preview"],
                      "audience": ["scope": "DIV-04", "poll_date": today, "election": "AE2028"]]),
            ("candidates", ["request_id": "mp-candidates-\(seed)", "kind": "candidates",
                            "campaign": ["code": "MP-CANDIDATE-BRIEF", "name": "Phase 2 candidates: the day's brief", "material": "mp-jan-samvad"],
                            "audience": ["scope": "MP", "units": phaseTwo]]),
        ]
        for (kind, request) in lists { try write(dir.appendingPathComponent("lists/\(kind).json"), request) }
        say("""
            wrote \(out): \(units.rows) units, \(people.rows) people, \(contacts.rows) contacts, \(results.rows) results, \
            \(acs.count) ACs in \(pcCount) Lok Sabha seats, 3 phases from \(today) (\(phaseOne.count) poll first), \
            \(centres.rows) centres, \(optOuts.rows) opt-outs, \(lists.count) list requests, in \(Int(Date().timeIntervalSince(started))) s
            """)
    }

    func write(_ url: URL, _ object: [String: Any]) throws {
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]).write(to: url)
    }
}

/// A CSV file written row by row through a buffer (millions of rows).
final class CSVFile {
    private let handle: FileHandle
    private var buffer: [[String]] = []
    private(set) var rows = 0

    init(_ url: URL, header: [String]) throws {
        FileManager.default.createFile(atPath: url.path, contents: nil)
        handle = try FileHandle(forWritingTo: url)
        handle.write(Data(CSVWriter.text([header]).utf8))
    }

    func write(_ row: [String]) {
        buffer.append(row)
        rows += 1
        if buffer.count >= 10_000 { flush() }
    }

    private func flush() {
        handle.write(Data(CSVWriter.text(buffer).utf8))
        buffer.removeAll(keepingCapacity: true)
    }

    func close() throws {
        flush()
        try handle.close()
    }
}
