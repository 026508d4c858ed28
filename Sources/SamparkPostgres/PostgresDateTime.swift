import Foundation

/// A calendar date without time or zone: what a PostgreSQL `date` column holds (a poll date,
/// a day of an aggregate). Proleptic Gregorian, as PostgreSQL; `year` is astronomical
/// (0 is 1 BC, -1 is 2 BC).
public struct PostgresDate: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int

    /// Checks that the day exists in that month (30 February does not).
    public init?(year: Int, month: Int, day: Int) {
        guard (1...12).contains(month), day >= 1, day <= CivilCalendar.daysIn(month: month, year: year) else {
            return nil
        }
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses `YYYY-MM-DD`, with an optional ` BC` suffix (PostgreSQL's ISO output).
    public init?(_ text: String) {
        var text = text
        guard let parsed = text.withUTF8({ DateTimeText.parseDate($0) }), case .finite(let date) = parsed else {
            return nil
        }
        self = date
    }

    /// The UTC calendar day of `date`.
    public init(_ date: Date) {
        let seconds = Int64((date.timeIntervalSince1970).rounded(.down))
        let days = CivilCalendar.floorDiv(seconds, 86_400)
        let civil = CivilCalendar.civil(fromDays: days)
        self.year = civil.year
        self.month = civil.month
        self.day = civil.day
    }

    /// Days since 1970-01-01.
    public var daysSinceEpoch: Int { Int(CivilCalendar.days(year: year, month: month, day: day)) }

    /// Midnight UTC at the start of this day.
    public var startOfDayUTC: Date { Date(timeIntervalSince1970: Double(daysSinceEpoch) * 86_400) }

    /// `YYYY-MM-DD`, with ` BC` for years before 1, as PostgreSQL writes and reads it.
    public var description: String {
        let displayYear = year > 0 ? year : 1 - year
        var text = DateTimeText.pad(displayYear, 4) + "-" + DateTimeText.pad(month, 2) + "-" + DateTimeText.pad(day, 2)
        if year <= 0 { text += " BC" }
        return text
    }

    public static func < (lhs: PostgresDate, rhs: PostgresDate) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let date = PostgresDate(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a YYYY-MM-DD date"))
        }
        self = date
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Days ↔ civil dates in the proleptic Gregorian calendar (Howard Hinnant's algorithms),
/// so timestamps are formatted and parsed without DateFormatter (slow, and locale and
/// time-zone dependent).
enum CivilCalendar {
    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    static func isLeap(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    static func civil(fromDays z0: Int64) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (Int(m <= 2 ? y + 1 : y), Int(m), Int(d))
    }

    static func days(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let m = Int64(month)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

/// PostgreSQL's ISO text forms of `date`, `timestamp` and `timestamptz`.
enum DateTimeText {
    enum Parsed<Value> {
        case finite(Value)
        case infinity
        case negativeInfinity
    }

    static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    /// `2024-01-02 03:04:05.123456+00`: what `timestamptz` input accepts whatever the
    /// session's DateStyle, always in UTC, with the microseconds PostgreSQL keeps.
    static func formatTimestamp(_ date: Date) -> String {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        return formatTimestamp(microsecondsSinceEpoch: micros, zone: "+00")
    }

    static func formatTimestamp(microsecondsSinceEpoch micros: Int64, zone: String) -> String {
        let days = CivilCalendar.floorDiv(micros, 86_400_000_000)
        let microsOfDay = micros - days * 86_400_000_000
        let civil = CivilCalendar.civil(fromDays: days)
        let seconds = microsOfDay / 1_000_000
        let fraction = Int(microsOfDay % 1_000_000)
        let displayYear = civil.year > 0 ? civil.year : 1 - civil.year
        var text = pad(displayYear, 4) + "-" + pad(civil.month, 2) + "-" + pad(civil.day, 2) + " "
        text += pad(Int(seconds / 3600), 2) + ":" + pad(Int(seconds / 60 % 60), 2) + ":" + pad(Int(seconds % 60), 2)
        if fraction != 0 { text += "." + pad(fraction, 6) }
        text += zone
        if civil.year <= 0 { text += " BC" }
        return text
    }

    /// A cursor over ASCII bytes.
    struct Scanner {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0
        var atEnd: Bool { index >= bytes.count }
        var peek: UInt8? { atEnd ? nil : bytes[index] }

        mutating func take(_ byte: UInt8) -> Bool {
            guard peek == byte else { return false }
            index += 1
            return true
        }

        /// Reads `min...max` decimal digits.
        mutating func number(min: Int, max: Int) -> Int? {
            var value = 0
            var count = 0
            while count < max, let byte = peek, byte >= 48, byte <= 57 {
                value = value * 10 + Int(byte - 48)
                count += 1
                index += 1
            }
            return count >= min ? value : nil
        }

        func rest(equalsIgnoringCase text: String) -> Bool {
            let expected = Array(text.utf8)
            guard bytes.count - index == expected.count else { return false }
            for (offset, byte) in expected.enumerated() where bytes[index + offset] | 0x20 != byte | 0x20 {
                return false
            }
            return true
        }
    }

    static func parseDate(_ bytes: UnsafeBufferPointer<UInt8>) -> Parsed<PostgresDate>? {
        var scanner = Scanner(bytes: bytes)
        if scanner.rest(equalsIgnoringCase: "infinity") { return .infinity }
        if scanner.rest(equalsIgnoringCase: "-infinity") { return .negativeInfinity }
        guard let raw = scanDate(&scanner), let bc = scanBC(&scanner), scanner.atEnd,
            let date = PostgresDate(year: bc ? 1 - raw.year : raw.year, month: raw.month, day: raw.day)
        else { return nil }
        return .finite(date)
    }

    /// Microseconds since the epoch, from timestamptz text (with an offset) or timestamp
    /// text (without one, read as UTC).
    static func parseTimestamp(_ bytes: UnsafeBufferPointer<UInt8>) -> Parsed<Int64>? {
        var scanner = Scanner(bytes: bytes)
        if scanner.rest(equalsIgnoringCase: "infinity") { return .infinity }
        if scanner.rest(equalsIgnoringCase: "-infinity") { return .negativeInfinity }
        guard let raw = scanDate(&scanner) else { return nil }
        guard scanner.take(UInt8(ascii: " ")) || scanner.take(UInt8(ascii: "T")) else { return nil }
        guard let hour = scanner.number(min: 2, max: 2), scanner.take(UInt8(ascii: ":")),
            let minute = scanner.number(min: 2, max: 2), scanner.take(UInt8(ascii: ":")),
            let second = scanner.number(min: 2, max: 2), hour <= 24, minute < 60, second < 61
        else { return nil }
        var micros = 0
        if scanner.take(UInt8(ascii: ".")) {
            var digits = 0
            while let byte = scanner.peek, byte >= 48, byte <= 57 {
                if digits < 6 {
                    micros = micros * 10 + Int(byte - 48)
                    digits += 1
                }
                scanner.index += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<6 { micros *= 10 }
        }
        var offsetSeconds = 0
        if let sign = scanner.peek, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
            scanner.index += 1
            guard let hours = scanner.number(min: 2, max: 2) else { return nil }
            var total = hours * 3600
            if scanner.take(UInt8(ascii: ":")) {
                guard let minutes = scanner.number(min: 2, max: 2) else { return nil }
                total += minutes * 60
                if scanner.take(UInt8(ascii: ":")) {
                    guard let seconds = scanner.number(min: 2, max: 2) else { return nil }
                    total += seconds
                }
            }
            offsetSeconds = sign == UInt8(ascii: "-") ? -total : total
        } else if scanner.take(UInt8(ascii: "Z")) {
            offsetSeconds = 0
        }
        guard let bc = scanBC(&scanner), scanner.atEnd,
            let date = PostgresDate(year: bc ? 1 - raw.year : raw.year, month: raw.month, day: raw.day)
        else { return nil }
        let days = CivilCalendar.days(year: date.year, month: date.month, day: date.day)
        let localSeconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        return .finite((localSeconds - Int64(offsetSeconds)) * 1_000_000 + Int64(micros))
    }

    /// The digits of `YYYY-MM-DD`, unchecked: whether the day exists depends on a ` BC`
    /// suffix that comes later (1 BC is a leap year).
    private static func scanDate(_ scanner: inout Scanner) -> (year: Int, month: Int, day: Int)? {
        guard let year = scanner.number(min: 4, max: 9), scanner.take(UInt8(ascii: "-")),
            let month = scanner.number(min: 2, max: 2), scanner.take(UInt8(ascii: "-")),
            let day = scanner.number(min: 2, max: 2)
        else { return nil }
        return (year, month, day)
    }

    /// nil: malformed; true: a ` BC` suffix was read.
    private static func scanBC(_ scanner: inout Scanner) -> Bool? {
        guard !scanner.atEnd else { return false }
        guard scanner.take(UInt8(ascii: " ")), scanner.take(UInt8(ascii: "B")), scanner.take(UInt8(ascii: "C")) else {
            return nil
        }
        return true
    }
}
