import Foundation
import SamparkPostgres
import Testing

/// Against the real server from `SAMPARK_TEST_POSTGRES_URL`.
@Suite struct RoundTripTests {
    struct Profile: Codable, Equatable, Sendable {
        let name: String
        let phones: [String]
    }

    @Test func everyTypeRoundTrips() async throws {
        try await withTestPool { pool, schema in
            let uuid = UUID()
            let when = Date(timeIntervalSince1970: 1_709_214_330.123456)
            let day = try #require(PostgresDate(year: 2024, month: 2, day: 29))
            let bytes = Data([0, 1, 2, 0xFE, 0xFF])
            let profile = Profile(name: "आशा \"Asha\" O'Neil", phones: ["+919876543210"])
            let decimal = try #require(Decimal(string: "-12345678901234.000123"))

            let row = try await pool.withConnection { conn in
                try conn.execute("""
                    CREATE TABLE \(schema).everything (
                        t text, i8 bigint, i4 integer, i2 smallint, f8 double precision, b boolean,
                        n numeric(30, 6), ts timestamptz, d date, u uuid, by bytea, jb jsonb, j json,
                        ta text[], ia bigint[], ia4 integer[], nul text, e text)
                    """)
                try conn.execute(
                    "INSERT INTO \(schema).everything VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
                    [
                        "मध्य प्रदेश, \"quoted\" \\ back", Int.max, Int32.min, Int16(-7), 0.1 + 0.2, true,
                        decimal, when, day, uuid, bytes, PostgresJSON(profile), PostgresJSONText(#"{"k": [1, 2]}"#),
                        ["a,b", "", "NULL", nil, "q\"uote", "{x}"] as [String?], [1, -2, Int.max], [Int32(7)],
                        String?.none, "",
                    ])
                return try #require(conn.query("SELECT * FROM \(schema).everything").first)
            }

            #expect(try row["t", as: String.self] == "मध्य प्रदेश, \"quoted\" \\ back")
            #expect(try row["i8", as: Int.self] == Int.max)
            #expect(try row["i4", as: Int32.self] == Int32.min)
            #expect(try row["i2", as: Int16.self] == -7)
            #expect(try row["i2", as: Int.self] == -7)
            #expect(try row["f8", as: Double.self] == 0.1 + 0.2)
            #expect(try row["b", as: Bool.self])
            #expect(try row["n", as: Decimal.self] == decimal)
            #expect(try row["n", as: String.self] == "-12345678901234.000123")
            #expect(try row["ts", as: Date.self] == when || abs(try row["ts", as: Date.self].timeIntervalSince(when)) < 0.000_001)
            #expect(try row["ts", as: String.self] == "2024-02-29 13:45:30.123456+00")
            #expect(try row["d", as: PostgresDate.self] == day)
            #expect(try row["u", as: UUID.self] == uuid)
            #expect(try row["by", as: Data.self] == bytes)
            #expect(try row.decodeJSON(Profile.self, column: "jb") == profile)
            #expect(try row["jb", as: PostgresJSON<Profile>.self].value == profile)
            #expect(try row["j", as: String.self] == #"{"k": [1, 2]}"#)
            #expect(try row["ta", as: [String?].self] == ["a,b", "", "NULL", nil, "q\"uote", "{x}"])
            #expect(try row["ia", as: [Int].self] == [1, -2, Int.max])
            #expect(try row["ia4", as: [Int32].self] == [7])
            #expect(try row["nul", as: String?.self] == nil)
            #expect(try row.isNull(at: 16))
            #expect(try row["e", as: String.self] == "")
            #expect(try row.decode(String.self, at: 0) == "मध्य प्रदेश, \"quoted\" \\ back")
            #expect(try row[1, as: Int.self] == Int.max)
        }
    }

    @Test func serverTextFormsDecode() async throws {
        try await withTestPool { pool, _ in
            let row = try await pool.withConnection { conn in
                try #require(conn.query("""
                    SELECT '2024-02-29 19:15:30.5+05:30'::timestamptz AS ts,
                           'infinity'::timestamptz AS inf,
                           '0044-03-15 BC'::date AS ides,
                           123456789012345678901234567890.5::numeric AS big,
                           'NaN'::numeric AS nan,
                           ARRAY['a b', NULL, '', 'back\\slash', 'q"uote']::text[] AS arr,
                           '{}'::int[] AS empty,
                           '[0:1]={5,6}'::int[] AS bounded,
                           '{"a": 1}'::jsonb AS doc,
                           current_setting('TimeZone') AS zone,
                           current_setting('DateStyle') AS style
                    """).first)
            }
            #expect(try row["ts", as: Date.self].timeIntervalSince1970 == 1_709_214_330.5)
            #expect(try row["inf", as: Date.self] == .distantFuture)
            #expect(try row["ides", as: PostgresDate.self] == PostgresDate(year: -43, month: 3, day: 15))
            #expect(try row["big", as: String.self] == "123456789012345678901234567890.5")
            #expect(try row["nan", as: Decimal.self].isNaN)
            #expect(try row["arr", as: [String?].self] == ["a b", nil, "", "back\\slash", "q\"uote"])
            #expect(try row["empty", as: [Int].self] == [])
            #expect(try row["bounded", as: [Int].self] == [5, 6])
            #expect(try row["doc", as: String.self] == #"{"a": 1}"#)
            #expect(try row["zone", as: String.self] == "UTC")
            #expect(try row["style", as: String.self].hasPrefix("ISO"))
        }
    }

    @Test func parametersAreNeverSpliced() async throws {
        try await withTestPool { pool, schema in
            let hostile = "'); DROP TABLE \(schema).victims; --"
            let stored = try await pool.withConnection { conn in
                try conn.execute("CREATE TABLE \(schema).victims (v text)")
                try conn.execute("INSERT INTO \(schema).victims (v) VALUES ($1)", [hostile])
                try conn.execute("INSERT INTO \(schema).victims (v) VALUES ($1)", ["$1 $2 \\' \" ;"], prepared: true)
                return try conn.query("SELECT v FROM \(schema).victims ORDER BY v").map { try $0["v", as: String.self] }
            }
            #expect(Set(stored) == [hostile, "$1 $2 \\' \" ;"])
            // The table is still there.
            let count = try await pool.query("SELECT count(*) AS n FROM \(schema).victims")
            #expect(try count.first?["n", as: Int.self] == 2)
            // A value cannot smuggle a second statement either: its text is data.
            let rows = try await pool.query("SELECT $1::text AS v", ["1; SELECT 2"])
            #expect(try rows.first?["v", as: String.self] == "1; SELECT 2")
        }
    }

    @Test func preparedStatementsAreReused() async throws {
        try await withTestPool(size: 1) { pool, _ in
            let count = try await pool.withConnection { conn in
                for value in 0..<5 {
                    let rows = try conn.query("SELECT $1::bigint * 2 AS v", [value], prepared: true)
                    #expect(try rows.first?["v", as: Int.self] == value * 2)
                }
                return try conn.query("SELECT count(*) AS n FROM pg_prepared_statements WHERE statement = $1",
                                      ["SELECT $1::bigint * 2 AS v"]).first?["n", as: Int.self]
            }
            #expect(count == 1)
        }
    }

    @Test func serverErrorsCarryTheirSQLSTATE() async throws {
        try await withTestPool { pool, schema in
            let missing = try await #require(throws: PostgresError.self) {
                try await pool.query("SELECT * FROM \(schema).does_not_exist")
            }
            #expect(missing.kind == .server)
            #expect(missing.code == .undefinedTable)
            #expect(!missing.retryable)

            try await pool.execute("CREATE TABLE \(schema).contacts (phone text PRIMARY KEY, age int CHECK (age > 0))")
            try await pool.execute("INSERT INTO \(schema).contacts VALUES ($1, $2)", ["9876543210", 30])
            let duplicate = try await #require(throws: PostgresError.self) {
                try await pool.execute("INSERT INTO \(schema).contacts VALUES ($1, $2)", ["9876543210", 31])
            }
            #expect(duplicate.code == .uniqueViolation)
            #expect(duplicate.constraintName == "contacts_pkey")
            #expect(duplicate.tableName == "contacts")
            #expect(duplicate.schemaName == schema)
            #expect(duplicate.detail?.contains("9876543210") == true)  // kept, for code that needs it
            #expect(!duplicate.description.contains("9876543210"))  // never printed
            #expect(!"\(duplicate)".contains("9876543210"))

            let check = try await #require(throws: PostgresError.self) {
                try await pool.execute("INSERT INTO \(schema).contacts VALUES ($1, $2)", ["1", -1])
            }
            #expect(check.code == .checkViolation)

            let syntax = try await #require(throws: PostgresError.self) {
                try await pool.query("SELECT $1::int AS v", ["98765432109"])
            }
            #expect(syntax.code == .numericValueOutOfRange)
            #expect(syntax.message.contains("98765432109"))
            #expect(!syntax.description.contains("98765432109"))

            // The connection is fine after errors.
            #expect(try await pool.query("SELECT 1 AS one").first?["one", as: Int.self] == 1)
        }
    }

    @Test func decodingErrorsNameColumnAndType() async throws {
        try await withTestPool { pool, _ in
            let rows = try await pool.query("SELECT $1::text AS phone", ["9876543210"])
            let row = try #require(rows.first)
            let error = try #require(throws: PostgresError.self) { try row["phone", as: Int.self] }
            #expect(error.kind == .decoding)
            #expect(error.columnName == "phone")
            #expect(error.description.contains("phone") && error.description.contains("Int"))
            #expect(!error.description.contains("9876543210"))
            let missing = try #require(throws: PostgresError.self) { try row["nope", as: String.self] }
            #expect(missing.kind == .usage)
        }
    }

    @Test func multiStatementScript() async throws {
        try await withTestPool { pool, schema in
            try await pool.withConnection { conn in
                try conn.executeScript("CREATE TABLE \(schema).a (x int); CREATE TABLE \(schema).b (y int); INSERT INTO \(schema).a VALUES (1);")
            }
            #expect(try await pool.query("SELECT count(*) AS n FROM \(schema).a").first?["n", as: Int.self] == 1)
            // Parameterized statements refuse a second command: a value can never add one.
            let error = try await #require(throws: PostgresError.self) {
                try await pool.query("SELECT 1; SELECT 2")
            }
            #expect(error.code == .syntaxError)
        }
    }
}
