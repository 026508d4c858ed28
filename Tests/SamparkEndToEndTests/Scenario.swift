import Foundation
import Testing

/// The small network the end-to-end tests load: two districts with a call centre each, five
/// booths, contacts with shared household phones, bad rows and opt-outs.
enum Scenario {
    static let orgUnits = """
        level,code,name,parent_code
        state,MP,Madhya Pradesh,
        district,DRG,Durg,MP
        ac,AC-62,Durg Gramin,DRG
        booth,B-1,Booth 1,AC-62
        booth,B-2,Booth 2,AC-62
        booth,B-3,Booth 3,AC-62
        district,CDW,Chhindwara,MP
        ac,AC-126,Chhindwara,CDW
        booth,B-4,Booth 4,AC-126
        booth,B-5,Booth 5,AC-126
        booth,B-9,Booth 9,AC-404

        """

    static let callCentres = """
        code,name,region_codes,seats,shifts,languages
        DRG-01,Durg call centre,DRG,36,09:00-15:00;15:00-21:00,hi
        CDW-01,Chhindwara call centre,CDW,35,09:00-21:00,hi;en

        """

    /// 60 good rows on 56 mobiles (4 households share a phone), a landline (kept, never
    /// called), 2 rows with bad phones, 1 with an unknown booth.
    static var contacts: String {
        var lines = ["phone,name,booth_code,language,epic"]
        for i in 0..<60 {
            let phoneIndex = i < 56 ? i : i - 56          // rows 56-59 reuse phones 0-3
            let phone = "98765 \(String(format: "%05d", 10_000 + phoneIndex))"
            lines.append("\(phone),\"Voter \(i), Family \(phoneIndex)\",B-\(1 + i % 5),hi,\(epic(i))")
        }
        lines.append("12345,Bad Phone,B-1,hi,")
        lines.append("+1 415 555 0100,Abroad,B-2,en,")
        lines.append("0755-2345678,Office Landline,B-3,hi,")
        lines.append("9876599999,Lost Booth,B-404,hi,")
        return lines.joined(separator: "\n") + "\n"
    }
    /// Each good row's voter id (EPIC).
    static func epic(_ i: Int) -> String { "MPE" + String(format: "%07d", 4_200_000 + i) }

    /// What personal data of the scenario looks like in any text: its phones (any grouping of
    /// the digits), its voters' names and voter ids. No log line or error may hold any of it.
    /// (Seven digits or more, so that a message id's hex never matches by chance.)
    static let personalData = ["9876510", "98765 1", "9876599999", "4155550100", "415 555", "2345678", "Voter ", "Family ", "MPE42",
                               "Bad Phone", "Abroad", "Office Landline", "Lost Booth"]

    static let goodContactRows = 61
    static let distinctPhones = 56

    /// Two numbers that asked not to be called.
    static let optOuts = """
        phone,source
        +91 98765 10010,helpline
        098765-10011,helpline

        """

    /// Both constituencies poll on the same day.
    static let pollCalendar = """
        constituency_code,phase,poll_date,poll_close,election
        AC-62,1,2028-11-17,17:00,AE2028
        AC-126,1,2028-11-17,17:00,AE2028

        """

    /// The polling-day list of the whole state (a `list.build.v2` body).
    static let pollingDayRequest = """
        {"request_id": "polling-day-mp", "kind": "gotv",
         "campaign": {"code": "POLLING-DAY", "name": "Polling day"},
         "audience": {"scope": "MP", "poll_date": "2028-11-17"}}
        """

    /// Every good row but the landline is a mobile; 4 households share a phone; 2 opted out.
    static let pollingDayCalls = distinctPhones - 2

    /// 10:00 IST on the polling day: the clock every process of a cluster runs on.
    static let pollingDayMorning = "2028-11-17T10:00:00+05:30"

    static func write(_ text: String, named name: String, in directory: URL) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }
}
