import Foundation
import Testing
@testable import SamparkPostgres

/// Decoding from PostgreSQL's text forms, without a server.
@Suite struct DecodingTests {
    private func decode<T: PostgresDecodable>(_ text: String?, _ type: PostgresDataType, as: T.Type = T.self) throws -> T {
        try PostgresRow.decode(T.self, from: PostgresCell(text: text, type: type, columnName: "c"), index: 0)
    }

    @Test func numericToDecimalAndString() throws {
        #expect(try decode("1234.5600", .numeric, as: Decimal.self) == Decimal(string: "1234.56"))
        #expect(try decode("-0.000001", .numeric, as: Decimal.self) == Decimal(string: "-0.000001"))
        #expect(try decode("12345678901234567890123456789012345678", .numeric, as: Decimal.self)
            == Decimal(string: "12345678901234567890123456789012345678"))
        #expect(try decode("NaN", .numeric, as: Decimal.self).isNaN)
        #expect(try decode("123456789012345678901234567890.123456789012", .numeric, as: String.self)
            == "123456789012345678901234567890.123456789012")
        // More than Decimal can hold: an error, not a silently rounded number.
        let error = try #require(throws: PostgresError.self) {
            try decode("123456789012345678901234567890.123456789012", .numeric, as: Decimal.self)
        }
        #expect(error.kind == .decoding)
        #expect(try decode("5", .int4, as: Decimal.self) == 5)
        #expect(throws: PostgresError.self) { try decode("12abc", .numeric, as: Decimal.self) }
        #expect(throws: PostgresError.self) { try decode("Infinity", .numeric, as: Decimal.self) }
    }

    @Test func integers() throws {
        #expect(try decode("9223372036854775807", .int8, as: Int.self) == Int.max)
        #expect(try decode("-9223372036854775808", .int8, as: Int64.self) == Int64.min)
        #expect(try decode("-32768", .int2, as: Int16.self) == Int16.min)
        #expect(try decode("42", .int4, as: Int32.self) == 42)
        #expect(throws: PostgresError.self) { try decode("2147483648", .int8, as: Int32.self) }
        #expect(throws: PostgresError.self) { try decode("", .int4, as: Int.self) }
        #expect(throws: PostgresError.self) { try decode("42", .text, as: Int.self) }
    }

    @Test func timestamptz() throws {
        let date = try decode("2024-02-29 13:45:30.123456+00", .timestamptz, as: Date.self)
        let expected = Date(timeIntervalSince1970: 1_709_214_330.123456)
        #expect(abs(date.timeIntervalSince1970 - expected.timeIntervalSince1970) < 0.000_001)

        let offset = try decode("2024-02-29 19:15:30+05:30", .timestamptz, as: Date.self)
        #expect(offset.timeIntervalSince1970 == 1_709_214_330)
        let oddOffset = try decode("1900-01-01 00:00:00-00:25:21", .timestamptz, as: Date.self)
        #expect(oddOffset.timeIntervalSince1970 == -2_208_988_800 + 1521)

        #expect(try decode("1970-01-01 00:00:00+00", .timestamptz, as: Date.self).timeIntervalSince1970 == 0)
        #expect(try decode("1969-12-31 23:59:59.5+00", .timestamptz, as: Date.self).timeIntervalSince1970 == -0.5)
        #expect(try decode("infinity", .timestamptz, as: Date.self) == .distantFuture)
        #expect(try decode("-infinity", .timestamptz, as: Date.self) == .distantPast)
        #expect(try decode("2024-01-02 03:04:05", .timestamp, as: Date.self).timeIntervalSince1970 == 1_704_164_645)
        #expect(throws: PostgresError.self) { try decode("02/29/2024 13:45:30 UTC", .timestamptz, as: Date.self) }
        #expect(throws: PostgresError.self) { try decode("2023-02-29 00:00:00+00", .timestamptz, as: Date.self) }
    }

    @Test func timestampFormattingRoundTrips() throws {
        for seconds in [0.0, 1_709_214_330.123456, -1.000001, 4_102_444_800.5, -62_135_596_800] {
            let date = Date(timeIntervalSince1970: seconds)
            let text = DateTimeText.formatTimestamp(date)
            let back = try decode(text, .timestamptz, as: Date.self)
            #expect(abs(back.timeIntervalSince1970 - seconds) < 0.000_001, "\(text)")
        }
        #expect(DateTimeText.formatTimestamp(Date(timeIntervalSince1970: 1_709_214_330.25)) == "2024-02-29 13:45:30.250000+00")
        #expect(DateTimeText.formatTimestamp(Date(timeIntervalSince1970: 0)) == "1970-01-01 00:00:00+00")
    }

    @Test func dates() throws {
        #expect(try decode("2024-02-29", .date, as: PostgresDate.self) == PostgresDate(year: 2024, month: 2, day: 29))
        #expect(try decode("0001-02-29 BC", .date, as: PostgresDate.self) == PostgresDate(year: 0, month: 2, day: 29))
        #expect(PostgresDate(year: 0, month: 1, day: 1)?.description == "0001-01-01 BC")
        #expect(PostgresDate(year: 2023, month: 2, day: 29) == nil)
        #expect(PostgresDate("2025-12-31")?.daysSinceEpoch == 20_453)
        #expect(PostgresDate(Date(timeIntervalSince1970: -1)) == PostgresDate(year: 1969, month: 12, day: 31))
        #expect(try decode("2024-03-01", .date, as: Date.self).timeIntervalSince1970 == 1_709_251_200)
        #expect(throws: PostgresError.self) { try decode("infinity", .date, as: PostgresDate.self) }
    }

    @Test func boolsUUIDsBytes() throws {
        #expect(try decode("t", .bool, as: Bool.self))
        #expect(try !decode("f", .bool, as: Bool.self))
        let uuid = UUID()
        #expect(try decode(uuid.uuidString.lowercased(), .uuid, as: UUID.self) == uuid)
        #expect(try decode("\\x00ff10", .bytea, as: Data.self) == Data([0, 255, 16]))
        #expect(ByteaText.encode(Data([0, 255, 16])) == "\\x00ff10")
        #expect(try decode("1.5", .float8, as: Double.self) == 1.5)
        #expect(try decode("-Infinity", .float8, as: Double.self) == -.infinity)
    }

    @Test func arraysAndOptionals() throws {
        #expect(try decode("{a,\"b,c\",NULL}", .textArray, as: [String?].self) == ["a", "b,c", nil])
        #expect(try decode("{1,2,3}", .int4Array, as: [Int].self) == [1, 2, 3])
        #expect(try decode(nil, .text, as: String?.self) == nil)
        let nullElement = try #require(throws: PostgresError.self) { try decode("{1,NULL}", .int8Array, as: [Int].self) }
        #expect(nullElement.kind == .decoding)
    }

    @Test func failuresNameColumnAndTypeButNotValue() throws {
        let error = try #require(throws: PostgresError.self) { try decode("9876543210x", .int8, as: Int.self) }
        #expect(error.kind == .decoding)
        #expect(error.columnName == "c")
        #expect(error.expectedType == "Int")
        #expect(error.description.contains("\"c\""))
        #expect(error.description.contains("Int"))
        #expect(!error.description.contains("9876543210x"))
        #expect(!error.retryable)

        let null = try #require(throws: PostgresError.self) { try decode(nil, .text, as: String.self) }
        #expect(null.description.contains("NULL"))
    }

    struct Profile: Codable, Equatable, Sendable {
        let name: String
        let languages: [String]
    }

    @Test func json() throws {
        let profile = try decode(#"{"name": "Asha", "languages": ["hi", "mr"]}"#, .jsonb, as: PostgresJSON<Profile>.self)
        #expect(profile.value == Profile(name: "Asha", languages: ["hi", "mr"]))
        let error = try #require(throws: PostgresError.self) {
            try decode(#"{"name": "9876543210"}"#, .jsonb, as: PostgresJSON<Profile>.self)
        }
        #expect(error.description.contains("languages"))
        #expect(!error.description.contains("9876543210"))
    }

    @Test func encodings() throws {
        #expect(try ["a", "b\"c", nil].postgresText() == #"{"a","b\"c",NULL}"#)
        #expect(try [1, 2].postgresText() == #"{"1","2"}"#)
        #expect([1, 2].postgresType == .int8Array)
        #expect(Double.infinity.postgresText() == "Infinity")
        #expect(Optional<Int>.none.postgresType == .unspecified)
        #expect(try Optional<Int>.none.postgresText() == nil)
        #expect(try PostgresJSON(Profile(name: "A", languages: [])).postgresText()?.contains("\"name\":\"A\"") == true)
    }
}
