import Testing
@testable import SamparkPostgres

@Suite struct ArrayTextTests {
    @Test func plainElements() throws {
        #expect(try PostgresArrayText.parseOneDimensional("{a,b,c}") == ["a", "b", "c"])
        #expect(try PostgresArrayText.parseOneDimensional("{1,-2,30}") == ["1", "-2", "30"])
    }

    @Test func emptyArrayAndEmptyString() throws {
        #expect(try PostgresArrayText.parseOneDimensional("{}") == [])
        #expect(try PostgresArrayText.parseOneDimensional("{\"\"}") == [""])
        #expect(try PostgresArrayText.parseOneDimensional("{\"\",\"\"}") == ["", ""])
    }

    @Test func nullVersusQuotedNull() throws {
        #expect(try PostgresArrayText.parseOneDimensional("{NULL,\"NULL\",null,x}") == [nil, "NULL", nil, "x"])
        // An escaped letter makes it data, not the NULL keyword.
        #expect(try PostgresArrayText.parseOneDimensional("{\\NULL}") == ["NULL"])
    }

    @Test func quotingAndEscapes() throws {
        let parsed = try PostgresArrayText.parseOneDimensional(#"{"a,b","c\"d","back\\slash","{braces}"," spaced "}"#)
        #expect(parsed == ["a,b", "c\"d", "back\\slash", "{braces}", " spaced "])
    }

    @Test func unquotedWhitespaceIsTrimmedButEscapedWhitespaceKept() throws {
        #expect(try PostgresArrayText.parseOneDimensional("{ a , b c ,d}") == ["a", "b c", "d"])
        #expect(try PostgresArrayText.parseOneDimensional("{a\\ }") == ["a "])
    }

    @Test func unicode() throws {
        #expect(try PostgresArrayText.parseOneDimensional("{मध्य प्रदेश,\"ಕನ್ನಡ, ತಮಿಳು\"}") == ["मध्य प्रदेश", "ಕನ್ನಡ, ತಮಿಳು"])
    }

    @Test func boundsDecorationIsSkipped() throws {
        #expect(try PostgresArrayText.parseOneDimensional("[0:2]={1,2,3}") == ["1", "2", "3"])
    }

    @Test func nestedArrays() throws {
        let parsed = try PostgresArrayText.parse("{{1,2},{3,NULL}}")
        #expect(parsed == [.array([.value("1"), .value("2")]), .array([.value("3"), .null])])
        #expect(throws: PostgresArrayText.ParseError.self) { try PostgresArrayText.parseOneDimensional("{{1,2},{3,4}}") }
    }

    @Test(arguments: ["", "{", "{a", "{\"a}", "{a,}", "{,a}", "a", "{a}x", "{a\"b}", "[1:2]{1,2}"])
    func malformed(_ text: String) {
        #expect(throws: PostgresArrayText.ParseError.self) { try PostgresArrayText.parse(text) }
    }

    @Test func encodeThenParseRoundTrips() throws {
        let values: [String?] = ["plain", "", "NULL", nil, "a,b", "q\"uote", "back\\slash", " lead", "trail ", "{}", "मत"]
        let text = PostgresArrayText.encode(values)
        #expect(try PostgresArrayText.parseOneDimensional(text) == values)
    }
}
