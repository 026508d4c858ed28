import Foundation

/// A Swift type a column value (in PostgreSQL's text format) can be decoded into.
///
/// Conform your own types by reading ``PostgresCell/string`` and checking
/// ``PostgresCell/type``; throw ``PostgresDecodingFailure`` with a reason that does not
/// quote the value.
public protocol PostgresDecodable {
    static func decode(from cell: PostgresCell) throws -> Self
}

/// Why a value could not be decoded. The reason must never contain the value itself: it
/// ends up in logs, and values are phone numbers and names.
public struct PostgresDecodingFailure: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

extension PostgresCell {
    func require(_ allowed: (PostgresDataType) -> Bool, _ swiftType: String) throws {
        guard allowed(type) else {
            throw PostgresDecodingFailure("a \(type) value cannot be read as \(swiftType)")
        }
    }
}

/// ASCII integer parsing straight from the result buffer, with overflow checks.
enum IntegerText {
    static func parse<T: FixedWidthInteger>(_ bytes: UnsafeBufferPointer<UInt8>, as: T.Type) -> T? {
        guard !bytes.isEmpty else { return nil }
        var index = 0
        var negative = false
        if bytes[0] == UInt8(ascii: "-") || bytes[0] == UInt8(ascii: "+") {
            negative = bytes[0] == UInt8(ascii: "-")
            index = 1
            guard bytes.count > 1 else { return nil }
        }
        var value: T = 0
        while index < bytes.count {
            let byte = bytes[index]
            guard byte >= 48 && byte <= 57 else { return nil }
            let digit = T(byte - 48)
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = negative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            guard !overflow1 && !overflow2 else { return nil }
            value = next
            index += 1
        }
        return value
    }
}

extension String: PostgresDecodable {
    /// Any type: every PostgreSQL value has a text form (numeric, json, uuid, dates, ...).
    public static func decode(from cell: PostgresCell) throws -> String {
        try cell.withNonNullBytes { String(decoding: $0, as: UTF8.self) }
    }
}

private func isIntegerOrUnknown(_ type: PostgresDataType) -> Bool {
    type.isInteger || type == .unspecified
}

extension PostgresDecodable where Self: FixedWidthInteger {
    static func decodeInteger(from cell: PostgresCell) throws -> Self {
        try cell.require(isIntegerOrUnknown, "\(Self.self)")
        return try cell.withNonNullBytes { bytes in
            guard let value = IntegerText.parse(bytes, as: Self.self) else {
                throw PostgresDecodingFailure("the value is not an integer that fits in \(Self.self)")
            }
            return value
        }
    }
}

extension Int: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> Int { try decodeInteger(from: cell) }
}

extension Int64: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> Int64 { try decodeInteger(from: cell) }
}

extension Int32: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> Int32 { try decodeInteger(from: cell) }
}

extension Int16: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> Int16 { try decodeInteger(from: cell) }
}

extension Double: PostgresDecodable {
    /// float4, float8, numeric and the integers.
    public static func decode(from cell: PostgresCell) throws -> Double {
        try cell.require({ $0 == .float8 || $0 == .float4 || $0 == .numeric || isIntegerOrUnknown($0) }, "Double")
        return try cell.withNonNullBytes { bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            switch text {
            case "NaN": return .nan
            case "Infinity": return .infinity
            case "-Infinity": return -.infinity
            default:
                guard let value = Double(text) else { throw PostgresDecodingFailure("the value is not a number") }
                return value
            }
        }
    }
}

extension Bool: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> Bool {
        try cell.require({ $0 == .bool || $0 == .unspecified }, "Bool")
        return try cell.withNonNullBytes { bytes in
            guard bytes.count == 1 else { throw PostgresDecodingFailure("the value is not t or f") }
            switch bytes[0] {
            case UInt8(ascii: "t"): return true
            case UInt8(ascii: "f"): return false
            default: throw PostgresDecodingFailure("the value is not t or f")
            }
        }
    }
}

extension Decimal: PostgresDecodable {
    /// numeric (and the integers). Decimal keeps 38 significant digits: a numeric with more
    /// is an error rather than silently rounded; decode such values as String.
    public static func decode(from cell: PostgresCell) throws -> Decimal {
        try cell.require({ $0 == .numeric || isIntegerOrUnknown($0) }, "Decimal")
        return try cell.withNonNullBytes { bytes in try NumericText.decimal(bytes) }
    }
}

enum NumericText {
    static func decimal(_ bytes: UnsafeBufferPointer<UInt8>) throws -> Decimal {
        if bytes.elementsEqual("NaN".utf8) { return .nan }
        // numeric_out writes -?digits(.digits)? (no exponent); check that exactly, since
        // Decimal(string:) stops quietly at the first character it does not understand.
        var index = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        var digits = 0
        var significant = 0
        var leadingZeros = true
        var sawPoint = false
        var trailingZeros = 0
        guard index < bytes.count else { throw PostgresDecodingFailure("the value is not a number") }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: ".") && !sawPoint {
                sawPoint = true
            } else if byte >= 48 && byte <= 57 {
                digits += 1
                if byte != 48 { leadingZeros = false }
                if !leadingZeros {
                    significant += 1
                    trailingZeros = byte == 48 ? trailingZeros + 1 : 0
                }
            } else {
                throw PostgresDecodingFailure(bytes.elementsEqual("Infinity".utf8) || bytes.elementsEqual("-Infinity".utf8)
                    ? "Decimal has no infinity" : "the value is not a number")
            }
            index += 1
        }
        guard digits > 0 else { throw PostgresDecodingFailure("the value is not a number") }
        // Trailing zeros after the point (scale padding) do not cost precision.
        if significant - (sawPoint ? trailingZeros : 0) > 38 {
            throw PostgresDecodingFailure("the value has more than 38 significant digits; decode it as String")
        }
        guard let value = Decimal(string: String(decoding: bytes, as: UTF8.self), locale: Locale(identifier: "en_US_POSIX")) else {
            throw PostgresDecodingFailure("the value is not a number")
        }
        return value
    }
}

extension Date: PostgresDecodable {
    /// timestamptz (and timestamp, read as UTC; and date, as midnight UTC). `infinity` and
    /// `-infinity` become `Date.distantFuture` and `Date.distantPast`.
    public static func decode(from cell: PostgresCell) throws -> Date {
        if cell.type == .date {
            return try PostgresDate.decode(from: cell).startOfDayUTC
        }
        try cell.require({ $0 == .timestamptz || $0 == .timestamp || $0 == .unspecified }, "Date")
        return try cell.withNonNullBytes { bytes in
            switch DateTimeText.parseTimestamp(bytes) {
            case .finite(let micros)?:
                // Whole seconds and microseconds separately: one Double division of a
                // 1.7e15 microsecond count would round in the last place.
                let seconds = CivilCalendar.floorDiv(micros, 1_000_000)
                let fraction = micros - seconds * 1_000_000
                return Date(timeIntervalSince1970: Double(seconds) + Double(fraction) / 1_000_000)
            case .infinity?: return .distantFuture
            case .negativeInfinity?: return .distantPast
            case nil: throw PostgresDecodingFailure("the value is not an ISO timestamp (is DateStyle ISO?)")
            }
        }
    }
}

extension PostgresDate: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> PostgresDate {
        try cell.require({ $0 == .date || $0 == .unspecified }, "PostgresDate")
        return try cell.withNonNullBytes { bytes in
            switch DateTimeText.parseDate(bytes) {
            case .finite(let date)?: return date
            case .infinity?, .negativeInfinity?: throw PostgresDecodingFailure("the date is infinite")
            case nil: throw PostgresDecodingFailure("the value is not an ISO date (is DateStyle ISO?)")
            }
        }
    }
}

extension UUID: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> UUID {
        try cell.require({ $0 == .uuid || $0.isTextual }, "UUID")
        return try cell.withNonNullBytes { bytes in
            guard let uuid = UUID(uuidString: String(decoding: bytes, as: UTF8.self)) else {
                throw PostgresDecodingFailure("the value is not a UUID")
            }
            return uuid
        }
    }
}

extension Data: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> Data {
        try cell.require({ $0 == .bytea || $0 == .unspecified }, "Data")
        return try cell.withNonNullBytes { bytes in
            guard let data = ByteaText.decode(bytes) else {
                throw PostgresDecodingFailure("the value is not bytea hex text (is bytea_output hex?)")
            }
            return data
        }
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    /// NULL becomes nil.
    public static func decode(from cell: PostgresCell) throws -> Wrapped? {
        if cell.isNull { return nil }
        return try Wrapped.decode(from: cell)
    }
}

extension Array: PostgresDecodable where Element: PostgresDecodable {
    /// One-dimensional arrays of any element type; NULL elements need an Optional element
    /// type (`[String?]`).
    public static func decode(from cell: PostgresCell) throws -> [Element] {
        let elementType: PostgresDataType
        if let known = cell.type.elementType {
            elementType = known
        } else if cell.type == .unspecified {
            elementType = .unspecified
        } else {
            throw PostgresDecodingFailure("a \(cell.type) value is not a known array type")
        }
        let texts: [String?]
        do {
            texts = try cell.withNonNullBytes { bytes in try PostgresArrayText.parseOneDimensional(bytes, delimiter: UInt8(ascii: ",")) }
        } catch let failure as PostgresArrayText.ParseError {
            throw PostgresDecodingFailure(failure.description)
        }
        var values: [Element] = []
        values.reserveCapacity(texts.count)
        for (position, text) in texts.enumerated() {
            let elementCell = PostgresCell(text: text, type: elementType, columnName: cell.columnName)
            do {
                values.append(try Element.decode(from: elementCell))
            } catch let failure as PostgresDecodingFailure {
                throw PostgresDecodingFailure("element \(position + 1): \(failure.reason)")
            }
        }
        return values
    }
}

extension PostgresJSON: PostgresDecodable where Value: Decodable {
    /// json, jsonb or text, through `JSONDecoder`.
    public static func decode(from cell: PostgresCell) throws -> PostgresJSON<Value> {
        try cell.require({ $0 == .json || $0 == .jsonb || $0.isTextual }, "JSON")
        let data = try cell.withNonNullBytes { Data($0) }
        do {
            return PostgresJSON(try JSONDecoder().decode(Value.self, from: data))
        } catch let error as DecodingError {
            // Only the path and kind of the problem: DecodingError's own description can
            // quote the offending JSON.
            throw PostgresDecodingFailure("invalid JSON for \(Value.self): \(Self.summary(error))")
        }
    }

    private static func summary(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "at the top level" : "at " + keys.joined(separator: ".")
        }
        switch error {
        case .typeMismatch(let type, let context): return "expected \(type) \(path(context))"
        case .valueNotFound(let type, let context): return "missing \(type) \(path(context))"
        case .keyNotFound(let key, let context): return "missing key \(key.stringValue) \(path(context))"
        case .dataCorrupted(let context): return "malformed \(path(context))"
        @unknown default: return "undecodable"
        }
    }
}
