import Testing
@testable import SamparkCore

@Suite struct CSVReaderTests {
    private func read(_ text: String, chunk: Int = 1_000_000) throws -> [CSVReader.Row] {
        var reader = CSVReader()
        var rows: [CSVReader.Row] = []
        let bytes = Array(text.utf8)
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + chunk)
            rows += try reader.feed(bytes[start..<end])
            start = end
        }
        rows += try reader.finish()
        return rows
    }

    /// Runs of plain bytes are copied whole: any input, from an array or any other sequence, cut
    /// into chunks of any size, reads the same rows.
    @Test(arguments: [
        "\u{FEFF}name,phone\r\n\"Sahu, Asha\",98270\r\n\n\"say \"\"hi\"\"\",\"two\nlines\"\r\nlast,row",
        "a,b\n\"\",\"\"\nx\"y,z\n,,\n\"\r\",end\n",
        "आशा,साहू\r\nmid\"quote,\"q\"\"\"\n",
    ])
    func anyInputInAnyChunksReadsTheSame(_ text: String) throws {
        let expected = try read(text)
        #expect(!expected.isEmpty)
        let bytes = Array(text.utf8)
        for chunk in [1, 2, 3, 7, bytes.count] {
            var contiguous = CSVReader(), other = CSVReader()
            var viaContiguous: [CSVReader.Row] = [], viaOther: [CSVReader.Row] = []
            for start in stride(from: 0, to: bytes.count, by: chunk) {
                let piece = bytes[start..<min(bytes.count, start + chunk)]
                viaContiguous += try contiguous.feed(piece)
                viaOther += try other.feed(piece.lazy.map { $0 })   // not contiguous
            }
            viaContiguous += try contiguous.finish()
            viaOther += try other.finish()
            #expect(viaContiguous == expected, "chunks of \(chunk)")
            #expect(viaOther == expected, "chunks of \(chunk), from a lazy sequence")
        }
    }

    /// A message's rows arrive as one big String (IngestBatch's `rows_csv`).
    @Test func aLargeStringReadsWhole() throws {
        let text = (1...5000).map { "\"Voter \($0), Family\",98270\($0),B-1,\"say \"\"hi\"\"\"\n" }.joined()
        var reader = CSVReader(maximumFieldBytes: Int.max)
        let rows = try reader.feed(text.utf8) + reader.finish()
        #expect(rows.count == 5000)
        #expect(rows.last?.fields == ["Voter 5000, Family", "982705000", "B-1", "say \"hi\""])
    }

    @Test func plainRowsWithLineNumbers() throws {
        let rows = try read("a,b,c\n1,2,3\n4,5,6\n")
        #expect(rows.map(\.fields) == [["a", "b", "c"], ["1", "2", "3"], ["4", "5", "6"]])
        #expect(rows.map(\.line) == [1, 2, 3])
    }

    @Test func quotesCommasNewlinesAndCRLF() throws {
        let text = "name,note\r\n\"Devi, Asha\",\"said \"\"yes\"\"\nand left\"\r\nRam,\r\n"
        for chunk in [1, 2, 3, 7, 1000] {
            let rows = try read(text, chunk: chunk)
            #expect(rows.map(\.fields) == [["name", "note"], ["Devi, Asha", "said \"yes\"\nand left"], ["Ram", ""]], "chunk \(chunk)")
            #expect(rows.map(\.line) == [1, 2, 4], "a row that spans two lines: the next starts on line 4")
        }
    }

    @Test func byteOrderMarkBlankLinesAndNoFinalNewline() throws {
        let rows = try read("\u{FEFF}code,name\n\nB-1,Booth one")
        #expect(rows.map(\.fields) == [["code", "name"], ["B-1", "Booth one"]])
        #expect(rows.map(\.line) == [1, 3])
    }

    @Test func unicodeSurvives() throws {
        let rows = try read("नाम,शहर\nआशा,दुर्ग\n", chunk: 5)
        #expect(rows[1].fields == ["आशा", "दुर्ग"])
    }

    @Test func anUnclosedQuoteNamesItsLine() {
        #expect(throws: CSVReader.Failure(line: 2, reason: "a quoted field is not closed before the end of the file")) {
            _ = try read("a,b\n\"open,1\n2,3\n")
        }
    }

    @Test func textAfterAClosingQuoteIsAnError() {
        #expect(throws: CSVReader.Failure.self) { _ = try read("a\n\"x\"y\n") }
    }

    @Test func aRunawayFieldIsBounded() {
        var reader = CSVReader(maximumFieldBytes: 10)
        #expect(throws: CSVReader.Failure.self) { _ = try reader.feed(Array("\"0123456789ABC".utf8)) }
    }

    /// A field that is not UTF-8 is named, so the row is rejected by line and column, and the
    /// rows around it are untouched (even when the bad bytes straddle two chunks).
    @Test func invalidUTF8NamesTheFieldAndSparesTheOtherRows() throws {
        var bytes = Array("name,phone\nआशा,1\n".utf8)
        bytes += Array("bad".utf8) + [0xFF, 0xFE] + Array(",2\nok,3\n".utf8)
        for chunk in [1, 3, 1_000] {
            var reader = CSVReader()
            var rows: [CSVReader.Row] = []
            var start = 0
            while start < bytes.count {
                rows += try reader.feed(bytes[start..<min(bytes.count, start + chunk)])
                start += chunk
            }
            rows += try reader.finish()
            #expect(rows.map(\.line) == [1, 2, 3, 4])
            #expect(rows.map(\.invalidUTF8Field) == [nil, nil, 0, nil])
            #expect(rows[1].fields == ["आशा", "1"])
            #expect(rows[3].fields == ["ok", "3"])
        }
    }
}
