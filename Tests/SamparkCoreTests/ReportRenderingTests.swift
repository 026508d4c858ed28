import Foundation
import Testing
@testable import SamparkCore

/// What docs/reports.md says of `--csv`: one figure per row, `report_id,day,scope,section,item,measure,value`,
/// read back by the project's own CSV reader.
@Suite struct ReportRenderingTests {
    @Test func theCSVHoldsOneFigurePerRow() throws {
        let report = DailyReport(reportID: "daily/2028-11-17/D1", day: "2028-11-17",
                                 scope: .init(level: "district", code: "D1", name: "District 1", state: "S"),
                                 generatedAt: Date(timeIntervalSince1970: 0),
                                 calls: [.init(campaign: "GOTV, phase 1", kind: .getOutTheVote, counts: .init(attempts: 3, connected: 2, noAnswer: 1))],
                                 totals: .init(attempts: 3, connected: 2, noAnswer: 1),
                                 refusals: [.init(reason: "silence_period", calls: 5)])
        var reader = CSVReader()
        let rows = try reader.feed(Array(ReportRendering.csv(report).utf8)) + reader.finish()
        let fields = rows.map(\.fields)
        #expect(fields.first == ["report_id", "day", "scope", "section", "item", "measure", "value"])
        #expect(fields.dropFirst().allSatisfy { $0.count == 7 && $0[0] == "daily/2028-11-17/D1" })
        #expect(fields.contains(["daily/2028-11-17/D1", "2028-11-17", "D1", "calls", "GOTV, phase 1 (gotv)", "attempts", "3"]),
                "a name holding a comma survives quoting")
        #expect(fields.contains(["daily/2028-11-17/D1", "2028-11-17", "D1", "calls", "total", "reached", "2"]))
        #expect(fields.contains(["daily/2028-11-17/D1", "2028-11-17", "D1", "refusals", "silence_period", "calls", "5"]))
    }
}
