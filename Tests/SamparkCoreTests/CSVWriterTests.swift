import Testing
@testable import SamparkCore

@Suite struct CSVWriterTests {
    /// What the writer writes, the reader reads back exactly: a batch's rows cross the broker
    /// this way (ingest.batch.v1's rows_csv).
    @Test func theReaderReadsBackWhatTheWriterWrote() throws {
        let rows: [[String]] = [
            ["plain", "two words", " spaces kept "],
            ["a, comma", "a \"quote\"", "line\nbreak"],
            ["crlf\r\ninside", "", "\u{FEFF}leading mark"],
            ["आशा साहू", "98270 10000", ""],
            [""],
            ["", "", ""],
        ]
        var reader = CSVReader()
        let back = try reader.feed(CSVWriter.text(rows).utf8) + reader.finish()
        #expect(back.map(\.fields) == rows)
    }

    @Test func aBatchCrossesTheWireWithItsLines() throws {
        let batch = IngestBatch(loadID: "l", source: .contacts, file: "f.csv", batchNumber: 1, isLast: true,
                                columns: ["name", "phone"], rows: [.init(line: 2, values: ["A, \"B\"", "1"]), .init(line: 5, values: ["C\nD", ""])])
        let decoded = try MessageCoding.decode(IngestBatch.self, from: try MessageCoding.encode(batch))
        #expect(decoded == batch)

        // A batch of thousands of rows: its CSV text is one String of hundreds of kilobytes.
        let big = IngestBatch(loadID: "l", source: .contacts, file: "f.csv", batchNumber: 2, isLast: false, columns: ["name", "phone", "booth_code"],
                              rows: (1...5000).map { .init(line: $0 + 1, values: ["Voter \($0), \"Family\"", "98270\($0)", "आशा"]) })
        #expect(try MessageCoding.decode(IngestBatch.self, from: try MessageCoding.encode(big)) == big)
    }
}
