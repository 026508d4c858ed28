import Foundation
import SamparkCore
import SamparkPostgres

/// Why a row was not accepted: the field and a reason that quotes no personal value (unit,
/// booth and centre codes may be named: they are not personal data).
public struct RowRejection: Error, Equatable, Sendable {
    public let field: String
    public let reason: String
    public init(_ field: String, _ reason: String) {
        self.field = field
        self.reason = reason
    }
}

/// Column positions of a file's header (the first of a repeated name wins).
struct Columns: Sendable {
    let names: [String]
    let position: [String: Int]
    init(_ names: [String]) {
        var position: [String: Int] = [:]
        for (index, name) in names.enumerated() where position[name] == nil { position[name] = index }
        self.names = names
        self.position = position
    }
}

/// One row's values by column name, trimmed, with the parsers every source shares. Each
/// parser throws a ``RowRejection`` naming the column, so a loader reads as a list of rules.
struct Fields {
    let columns: Columns
    let values: [String]

    /// The trimmed value, nil when the column is absent or the value empty. Values longer
    /// than `maximum` characters are rejected: an indexed text value must stay well under
    /// PostgreSQL's index entry limit (about 2.7 kB), or the whole batch would fail.
    func optional(_ name: String, maximum: Int = 300) throws(RowRejection) -> String? {
        guard let index = columns.position[name], index < values.count else { return nil }
        let value = Self.trimmed(values[index])
        if value.isEmpty { return nil }
        // PostgreSQL text cannot hold NUL; a stray one would fail the whole batch's COPY.
        if value.utf8.contains(0) { throw RowRejection(name, "holds a NUL character") }
        // Counting characters walks grapheme clusters; a value of few enough bytes cannot
        // have too many characters.
        if value.utf8.count > maximum && value.count > maximum { throw RowRejection(name, "is longer than \(maximum) characters") }
        return value
    }

    /// Without leading and trailing white space (any Unicode white space, line breaks too).
    /// Most values have none, and come back without a copy; Foundation's trimming goes through
    /// UTF-16 and was most of a worker's time.
    static func trimmed(_ text: String) -> String {
        // The usual value starts and ends with an ASCII byte that is not white space.
        if let first = text.utf8.first, let last = text.utf8.last, Self.isPlainASCII(first), Self.isPlainASCII(last) {
            return text
        }
        let scalars = text.unicodeScalars
        guard let first = scalars.first, let last = scalars.last else { return text }
        if !first.properties.isWhitespace && !last.properties.isWhitespace { return text }
        guard let start = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let end = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return String(scalars[start...end])
    }

    /// ASCII and not white space (tab to carriage return, and space).
    private static func isPlainASCII(_ byte: UInt8) -> Bool {
        byte < 0x80 && byte != 0x20 && !(0x09...0x0D).contains(byte)
    }

    func required(_ name: String, maximum: Int = 300) throws(RowRejection) -> String {
        guard let value = try optional(name, maximum: maximum) else { throw RowRejection(name, "is empty") }
        return value
    }

    func phone(_ name: String) throws(RowRejection) -> (number: String, kind: PhoneNumber.Kind) {
        let text = try required(name)
        guard let parsed = PhoneNumber.parse(text) else {
            throw RowRejection(name, "is not an Indian phone number (+91 and 10 digits: 6-9 for a mobile, 1-5 for a landline)")
        }
        return parsed
    }

    func integer(_ name: String, in range: ClosedRange<Int>) throws(RowRejection) -> Int? {
        guard let text = try optional(name) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw RowRejection(name, "is not a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    func requiredInteger(_ name: String, in range: ClosedRange<Int>) throws(RowRejection) -> Int {
        guard let value = try integer(name, in: range) else { throw RowRejection(name, "is empty") }
        return value
    }

    /// A `;`-separated list, each item trimmed, empty items and repeats dropped, order kept.
    func list(_ name: String) throws(RowRejection) -> [String] {
        guard let text = try optional(name) else { return [] }
        var seen = Set<String>(), items: [String] = []
        for item in text.split(separator: ";") {
            let trimmed = Self.trimmed(String(item))
            if !trimmed.isEmpty, seen.insert(trimmed).inserted { items.append(trimmed) }
        }
        return items
    }

    func date(_ name: String) throws(RowRejection) -> String? {
        guard let text = try optional(name) else { return nil }
        guard let date = IngestTime.date(text) else { throw RowRejection(name, "is not a date as YYYY-MM-DD") }
        return date
    }

    func timeOfDay(_ name: String) throws(RowRejection) -> String? {
        guard let text = try optional(name) else { return nil }
        guard let time = IngestTime.timeOfDay(text) else { throw RowRejection(name, "is not a time of day as HH:MM") }
        return time
    }

    func timestamp(_ name: String) throws(RowRejection) -> String? {
        guard let text = try optional(name) else { return nil }
        guard let time = IngestTime.timestamp(text) else {
            throw RowRejection(name, "is not a time as YYYY-MM-DD HH:MM[:SS] (IST unless it ends with Z or an offset)")
        }
        return time
    }
}

/// Dates and times as files write them, checked in Swift (a value PostgreSQL refused would fail
/// the whole batch) and passed on in a form PostgreSQL reads without guessing.
enum IngestTime {
    /// A number written in ASCII digits only (`Int("+1")` would accept a sign).
    static func digits(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        return Int(text)
    }

    /// `YYYY-MM-DD`, a real calendar date (SamparkPostgres's own parser checks the digits and
    /// the calendar), in years a poll or an opt-out can have.
    static func date(_ text: String) -> String? {
        guard text.utf8.count == 10, let date = PostgresDate(text), (1900...2200).contains(date.year) else { return nil }
        return date.description
    }

    /// `HH:MM` (one-digit hours allowed), returned as `HH:MM`.
    static func timeOfDay(_ text: String) -> String? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, (1...2).contains(parts[0].count), parts[1].count == 2,
              let hour = digits(parts[0]), let minute = digits(parts[1]), (0..<24).contains(hour), (0..<60).contains(minute) else { return nil }
        return String(format: "%02d:%02d", hour, minute)
    }

    /// `YYYY-MM-DD[T ]HH:MM[:SS][Z|±HH:MM]`; without an offset the time is IST.
    static func timestamp(_ text: String) -> String? {
        guard text.count >= 16 else { return nil }
        let datePart = String(text.prefix(10))
        let separator = text[text.index(text.startIndex, offsetBy: 10)]
        guard date(datePart) != nil, separator == "T" || separator == " " else { return nil }
        var rest = Substring(text.dropFirst(11))
        var offset = "+05:30"
        if rest.hasSuffix("Z") {
            offset = "+00:00"
            rest = rest.dropLast()
        } else if rest.count > 6, ["+", "-"].contains(rest[rest.index(rest.endIndex, offsetBy: -6)]) {
            // Real offsets run from -12:00 to +14:00 (PostgreSQL refuses beyond 15:59).
            let zone = rest.suffix(6)
            guard let clock = timeOfDay(String(zone.dropFirst())), clock <= "14:00" else { return nil }
            offset = String(zone)
            rest = rest.dropLast(6)
        }
        let clock = rest.split(separator: ":", omittingEmptySubsequences: false)
        guard clock.count == 2 || clock.count == 3, clock.allSatisfy({ $0.count == 2 }),
              let hour = digits(clock[0]), let minute = digits(clock[1]), (0..<24).contains(hour), (0..<60).contains(minute) else { return nil }
        let second = clock.count == 3 ? digits(clock[2]) : 0
        guard let second, (0..<60).contains(second) else { return nil }
        return datePart + String(format: " %02d:%02d:%02d", hour, minute, second) + offset
    }
}
