import Foundation
import SamparkCore
import SamparkPostgres
import SamparkRuntime

/// Handles `turnout.mark.v1`: one booth agent's mark, stored as it arrives (the list builder
/// and the dispatcher see it at the commit). It takes the same path as a row of a
/// `turnout_marks` file; a mark naming no known voter is dead-lettered with the reason.
public struct TurnoutMarkHandler: MessageHandler {
    public init() {}

    private static let columns = ["epic", "ac_number", "part_number", "serial_number", "state_code", "voted_at"]

    public func handle(_ mark: TurnoutMark, context: HandlerContext) throws {
        let values = [mark.epic ?? "", mark.acNumber.map(String.init) ?? "", mark.partNumber.map(String.init) ?? "",
                      mark.serialNumber.map(String.init) ?? "", mark.stateCode ?? "", mark.votedAt.formatted(.iso8601)]
        let loader = TurnoutMarkLoader(markSource: String(mark.source.prefix(200)))
        _ = try IngestApply.apply(rows: [IngestBatch.Row(line: 1, values: values)], columns: Self.columns, preRejected: [],
                                  loader: loader, on: context.connection) { counts, stage in
            if counts.rejected > 0, let stage,
               let row = try context.connection.query("SELECT reject_field, reject_reason FROM \(stage.table) LIMIT 1").first {
                // Rolls back: nothing of the mark is stored.
                throw HandlerError.permanent("\(try row.decode(String.self, at: 0)): \(try row.decode(String.self, at: 1))")
            }
            return counts
        }
    }
}
