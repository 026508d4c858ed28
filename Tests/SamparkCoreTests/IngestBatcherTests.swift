import Testing
@testable import SamparkCore

@Suite struct IngestBatcherTests {
    private func batches(_ text: String, source: IngestSource = .optOuts, size: Int, chunk: Int = 7) throws -> (IngestBatcher, [IngestBatcher.Batch]) {
        var batcher = IngestBatcher(source: source, batchSize: size)
        let bytes = Array(text.utf8)
        var out: [IngestBatcher.Batch] = []
        var start = 0
        while start < bytes.count {
            out += try batcher.feed(bytes[start..<min(bytes.count, start + chunk)])
            start += chunk
        }
        return (batcher, out + (try batcher.finish()))
    }

    @Test func everyLineLandsInOneBatchAndTheLastIsNeverEmpty() throws {
        let text = "phone,source\n" + (0..<10).map { "98765\(String(format: "%05d", $0)),x\n" }.joined()
        for size in [1, 3, 5, 10, 11] {
            let (_, out) = try batches(text, size: size)
            #expect(out.flatMap(\.rows).map(\.line) == Array(2...11))
            #expect(out.allSatisfy { !$0.rows.isEmpty && $0.lines <= size })
            #expect(out.count == (10 + size - 1) / size)
        }
    }

    @Test func linesThatAreNotRowsAreRejectedWithTheirLine() throws {
        var text = Array("phone,source\n9876543210,a\n9876543211,a,extra\n9876543212\n".utf8)
        text += Array("9876543213,".utf8) + [0xC3, 0x28] + Array("\n".utf8)
        var batcher = IngestBatcher(source: .optOuts, batchSize: 100)
        let out = try batcher.feed(text) + batcher.finish()
        #expect(out.count == 1)
        #expect(out[0].rows.map(\.line) == [2])
        #expect(out[0].rejected.map { "\($0.line) \($0.field)" } == ["3 -", "4 -", "5 source"])
    }

    @Test func aHeaderWithoutARequiredColumnRefusesTheFile() throws {
        var batcher = IngestBatcher(source: .contacts, batchSize: 100)
        #expect(throws: IngestBatcher.FileError(line: 1, reason: "the header has no booth_code column")) {
            _ = try batcher.feed(Array("Name,Phone\nA,9876543210\n".utf8))
        }
        var people = IngestBatcher(source: .people, batchSize: 100)
        _ = try people.feed(Array("name,phone,role,unit_code\n".utf8))
        #expect(people.header == ["name", "phone", "role", "unit_code"], "`phone` stands for `phones`")
    }

    @Test(arguments: [1, 7, 1_000])
    func aBrokenQuoteStopsTheReadingAndIsRejectedInTheLastBatch(chunk: Int) throws {
        // The rows before the broken line arrive in the same chunk with a large chunk size:
        // they are loaded all the same.
        let (batcher, out) = try batches("phone,source\n9876543210,a\n9876543214,b\n9876543211,\"a\"b\n9876543212,c\n",
                                         size: 100, chunk: chunk)
        #expect(batcher.stoppedAt?.line == 4)
        #expect(out.count == 1)
        #expect(out[0].rows.map(\.line) == [2, 3])
        #expect(out[0].rejected.map(\.line) == [4])
    }
}
