import Foundation
import Testing
import SamparkCore

/// The files in samples/faults/, each full of what a loader must survive (RFC 4180 quoting,
/// CRLF, a BOM, invalid UTF-8, wrong field counts, phones written every way, unknown codes,
/// duplicates), loaded on a fresh database through the same batcher and handler as
/// `sampark load`: the counts and every rejected line and field are the ones
/// samples/faults/README.md promises, and a second load changes nothing.
@Suite struct FaultFilesTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// What README.md says of one file.
    struct Expected {
        var counts: IngestCounts
        var rejects: [String]      // "line field", in line order
    }

    static func expected(for file: String) throws -> Expected {
        let readme = try String(contentsOf: repository.appendingPathComponent("samples/faults/README.md"), encoding: .utf8)
        let lines = readme.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func cells(_ line: String) -> [String] {
            line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
                .map { $0.trimmingCharacters(in: .whitespaces) }
        }
        // The summary table: | [file](file) | written as | prerequisites | read | accepted | inserted | updated | unchanged | rejected |
        let summary = try #require(lines.first { $0.hasPrefix("| [\(file)](") }, "README.md has a row for \(file)")
        let numbers = cells(summary)
        let rejected = try #require(Int(numbers[8].split(separator: " ")[0]))
        let counts = IngestCounts(read: try #require(Int(numbers[3])), inserted: try #require(Int(numbers[5])),
                                  updated: try #require(Int(numbers[6])), unchanged: try #require(Int(numbers[7])), rejected: rejected)
        // The file's own table: | line | outcome | field | the fault |
        let start = try #require(lines.firstIndex(of: "## \(file)"))
        var rejects: [String] = []
        for line in lines[(start + 1)...] {
            if line.hasPrefix("## ") { break }
            let row = cells(line)
            guard row.count >= 3, let number = Int(row[0]), row[1].hasPrefix("rejected") else { continue }
            rejects.append("\(number) \(row[2].replacingOccurrences(of: "`", with: ""))")
        }
        return Expected(counts: counts, rejects: rejects)
    }

    static func bytes(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: repository.appendingPathComponent(path)))
    }

    @Test(arguments: IngestSource.allCases)
    func aFaultsFileLoadsAsItsReadmeSays(_ source: IngestSource) async throws {
        let file = "\(source.rawValue).csv"
        let expected = try Self.expected(for: file)
        #expect(expected.counts.addsUp, "README.md's counts for \(file) add up")
        #expect(expected.rejects.count == expected.counts.rejected, "README.md lists every rejected line of \(file)")
        try await FreshDatabase.with("faults") { db in
            try await db.load(.orgUnits, bytes: try Self.bytes("samples/org_units.csv"))
            if source == .turnoutMarks { try await db.load(.contacts, bytes: try Self.bytes("samples/contacts.csv")) }
            let first = try await db.load(source, bytes: try Self.bytes("samples/faults/\(file)"), file: file)
            #expect(first.counts == expected.counts, "\(file): \(first.counts.summary)")
            #expect(try await db.rejects(first.loadID) == expected.rejects, "\(file)")

            let again = try await db.load(source, bytes: try Self.bytes("samples/faults/\(file)"), file: file)
            #expect(again.counts == IngestCounts(read: expected.counts.read, unchanged: expected.counts.accepted,
                                                 rejected: expected.counts.rejected), "\(file) again: \(again.counts.summary)")
            #expect(try await db.rejects(again.loadID) == expected.rejects, "\(file) again")
        }
    }

    /// Every sample file (docs/ingest.md's examples) loads; only the rows marked bad in it are
    /// rejected.
    @Test func theSamplesLoad() async throws {
        try await FreshDatabase.with("samples") { db in
            var rejected: [String: Int] = [:]
            for source in IngestSource.allCases {
                let report = try await db.load(source, bytes: try Self.bytes("samples/\(source.rawValue).csv"))
                #expect(report.counts.addsUp)
                #expect(report.counts.accepted > 0, "\(source.rawValue)")
                rejected[source.rawValue] = report.counts.rejected
            }
            #expect(rejected == ["org_units": 1, "people": 0, "contacts": 4, "booth_results": 0, "call_centres": 0,
                                 "poll_calendar": 0, "opt_outs": 0, "turnout_marks": 0])
        }
    }
}
