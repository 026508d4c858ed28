import Foundation

/// A value that can be bound as a statement parameter (`$1`, `$2`, ...).
///
/// Parameters travel beside the SQL text, in PostgreSQL's text format, with the type named
/// by OID; they are never spliced into the SQL. Conform your own types by returning the text
/// PostgreSQL's input function for `postgresType` accepts.
public protocol PostgresEncodable: Sendable {
    /// The type the server reads the parameter as. ``PostgresDataType/unspecified`` lets the
    /// server infer it from the statement.
    var postgresType: PostgresDataType { get }
    /// The parameter in PostgreSQL's text format; nil binds SQL NULL.
    func postgresText() throws -> String?
}

/// A value that can be an element of an array parameter (`text[]`, `int8[]`, ...).
public protocol PostgresArrayElementEncodable: PostgresEncodable {
    /// The array type whose elements have this type (`text[]` for String).
    static var postgresArrayType: PostgresDataType { get }
}

extension String: PostgresArrayElementEncodable {
    public var postgresType: PostgresDataType { .text }
    public static var postgresArrayType: PostgresDataType { .textArray }
    public func postgresText() -> String? { self }
}

extension Substring: PostgresEncodable {
    public var postgresType: PostgresDataType { .text }
    public func postgresText() -> String? { String(self) }
}

extension Int: PostgresArrayElementEncodable {
    public var postgresType: PostgresDataType { .int8 }
    public static var postgresArrayType: PostgresDataType { .int8Array }
    public func postgresText() -> String? { String(self) }
}

extension Int64: PostgresArrayElementEncodable {
    public var postgresType: PostgresDataType { .int8 }
    public static var postgresArrayType: PostgresDataType { .int8Array }
    public func postgresText() -> String? { String(self) }
}

extension Int32: PostgresArrayElementEncodable {
    public var postgresType: PostgresDataType { .int4 }
    public static var postgresArrayType: PostgresDataType { .int4Array }
    public func postgresText() -> String? { String(self) }
}

extension Int16: PostgresArrayElementEncodable {
    public var postgresType: PostgresDataType { .int2 }
    public static var postgresArrayType: PostgresDataType { .int2Array }
    public func postgresText() -> String? { String(self) }
}

extension Double: PostgresArrayElementEncodable {
    public var postgresType: PostgresDataType { .float8 }
    public static var postgresArrayType: PostgresDataType { .float8Array }
    /// Swift's shortest round-trip form; PostgreSQL's spellings for the special values.
    public func postgresText() -> String? {
        if isNaN { return "NaN" }
        if isInfinite { return self < 0 ? "-Infinity" : "Infinity" }
        return description
    }
}

extension Bool: PostgresArrayElementEncodable {
    public var postgresType: PostgresDataType { .bool }
    public static var postgresArrayType: PostgresDataType { .boolArray }
    public func postgresText() -> String? { self ? "t" : "f" }
}

extension Decimal: PostgresArrayElementEncodable {
    public var postgresType: PostgresDataType { .numeric }
    public static var postgresArrayType: PostgresDataType { .numericArray }
    public func postgresText() throws -> String? {
        if isNaN { return "NaN" }
        // Decimal's description is locale-independent ("1234.5"), what numeric_in reads.
        return description
    }
}

extension Date: PostgresArrayElementEncodable {
    /// Bound as `timestamptz`, in UTC, to the microsecond (PostgreSQL's precision).
    public var postgresType: PostgresDataType { .timestamptz }
    public static var postgresArrayType: PostgresDataType { .timestamptzArray }
    public func postgresText() -> String? { DateTimeText.formatTimestamp(self) }
}

extension PostgresDate: PostgresArrayElementEncodable {
    public var postgresType: PostgresDataType { .date }
    public static var postgresArrayType: PostgresDataType { .dateArray }
    public func postgresText() -> String? { description }
}

extension UUID: PostgresArrayElementEncodable {
    public var postgresType: PostgresDataType { .uuid }
    public static var postgresArrayType: PostgresDataType { .uuidArray }
    public func postgresText() -> String? { uuidString }
}

extension Data: PostgresArrayElementEncodable {
    /// Bound as `bytea` in its hex text form (`\x0a1b...`).
    public var postgresType: PostgresDataType { .bytea }
    public static var postgresArrayType: PostgresDataType { .byteaArray }
    public func postgresText() -> String? { ByteaText.encode(self) }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    /// nil binds SQL NULL. For `.none` there is no instance to ask, so the type is left to the
    /// server to infer, which it can always do for a NULL.
    public var postgresType: PostgresDataType {
        switch self {
        case .some(let value): return value.postgresType
        case .none: return .unspecified
        }
    }

    public func postgresText() throws -> String? {
        switch self {
        case .some(let value): return try value.postgresText()
        case .none: return nil
        }
    }
}

extension Optional: PostgresArrayElementEncodable where Wrapped: PostgresArrayElementEncodable {
    public static var postgresArrayType: PostgresDataType { Wrapped.postgresArrayType }
}

extension Array: PostgresEncodable where Element: PostgresArrayElementEncodable {
    /// A one-dimensional array (`text[]`, `int8[]`, ...); nil elements are NULL.
    public var postgresType: PostgresDataType { Element.postgresArrayType }

    public func postgresText() throws -> String? {
        try PostgresArrayText.encode(map { try $0.postgresText() })
    }
}

/// JSON, bound as `jsonb` and decoded from `json` or `jsonb`.
///
/// `try conn.query("insert into t(doc) values ($1)", [PostgresJSON(profile)])` binds the
/// value encoded with `JSONEncoder`; `row["doc", as: PostgresJSON<Profile>.self].value`
/// decodes it with `JSONDecoder`. ``PostgresJSONText`` binds JSON text you already have.
public struct PostgresJSON<Value: Sendable>: Sendable {
    public var value: Value
    public init(_ value: Value) { self.value = value }
}

/// JSON text you already have, bound as `jsonb` as is (the server checks it). To read a
/// json/jsonb column as raw text, decode it as `String`.
public struct PostgresJSONText: PostgresEncodable, Hashable {
    public var text: String
    public init(_ text: String) { self.text = text }
    public var postgresType: PostgresDataType { .jsonb }
    public func postgresText() -> String? { text }
}

extension PostgresJSON: PostgresEncodable where Value: Encodable {
    public var postgresType: PostgresDataType { .jsonb }

    public func postgresText() throws -> String? {
        do {
            let data = try JSONEncoder().encode(value)
            return String(decoding: data, as: UTF8.self)
        } catch {
            throw PostgresError(kind: .encoding, message: "could not encode \(Value.self) as JSON", expectedType: "\(Value.self)")
        }
    }
}

/// bytea's hex text format.
enum ByteaText {
    private static let hexDigits = Array("0123456789abcdef".utf8)

    static func encode(_ data: Data) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(2 + data.count * 2)
        bytes.append(UInt8(ascii: "\\"))
        bytes.append(UInt8(ascii: "x"))
        for byte in data {
            bytes.append(hexDigits[Int(byte >> 4)])
            bytes.append(hexDigits[Int(byte & 0x0F)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Reads `\x0a1b...`; nil for anything else (the escape format is never produced:
    /// connections set `bytea_output = 'hex'`).
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>) -> Data? {
        guard bytes.count >= 2, bytes[0] == UInt8(ascii: "\\"), bytes[1] == UInt8(ascii: "x"), bytes.count % 2 == 0 else {
            return nil
        }
        var data = Data(count: (bytes.count - 2) / 2)
        let ok = data.withUnsafeMutableBytes { (out: UnsafeMutableRawBufferPointer) -> Bool in
            var index = 2
            var position = 0
            while index < bytes.count {
                guard let high = nibble(bytes[index]), let low = nibble(bytes[index + 1]) else { return false }
                out[position] = high << 4 | low
                position += 1
                index += 2
            }
            return true
        }
        return ok ? data : nil
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 48...57: return byte - 48
        case 97...102: return byte - 87
        case 65...70: return byte - 55
        default: return nil
        }
    }
}
