import Foundation
import SamparkCore
import SamparkPostgres
import SamparkRuntime

/// Handles `ingest.batch.v1`: validates every row of the batch, stores the good ones and
/// answers with `ingest.completed.v1` naming each rejected row's line, field and reason (never
/// its value). A row is either accepted or rejected; none is dropped silently.
///
/// Rows are checked in Swift before they reach the database, so one bad row cannot abort the
/// batch's transaction. Sources not handled yet are refused as a whole (dead-lettered with
/// the reason), not half-loaded.
public struct IngestBatchHandler: MessageHandler {
    public init() {}

    public func handle(_ batch: IngestBatch, context: HandlerContext) throws {
        let loader: any SourceLoader
        switch batch.source {
        case .orgUnits: loader = OrgUnitLoader()
        case .contacts: loader = ContactLoader()
        case .callCentres: loader = CallCentreLoader()
        case .optOuts: loader = OptOutLoader()
        case .people, .boothResults, .pollCalendar:
            throw HandlerError.permanent("loading \(batch.source.rawValue) is not supported yet")
        }
        var rejected: [IngestCompleted.Rejection] = []
        var accepted = 0
        let columns = Columns(batch.columns)
        let missing = loader.requiredColumns.filter { columns.position[$0] == nil }
        if !missing.isEmpty {
            let reason = "the header has no \(missing.joined(separator: ", ")) column"
            rejected = batch.rows.map { .init(line: $0.line, field: missing[0], reason: reason) }
        } else {
            for row in batch.rows {
                let fields = Fields(columns: columns, values: row.values)
                do {
                    try loader.load(fields, on: context.connection)
                    accepted += 1
                } catch let rejection as RowRejection {
                    rejected.append(.init(line: row.line, field: rejection.field, reason: rejection.reason))
                }
            }
        }
        let answer = IngestCompleted(loadID: batch.loadID, source: batch.source, file: batch.file, batchNumber: batch.batchNumber,
                                     isLast: batch.isLast, accepted: accepted, rejected: rejected)
        // The answer goes to whoever asked (`sampark load --wait` sets reply_to). An
        // announcement on the exchange for other listeners comes when one exists: a mandatory
        // publish nobody is bound to would only be dead-lettered as unroutable.
        if let replyTo = context.replyTo {
            try context.publish(answer, exchange: "", routingKey: replyTo, messageID: "\(context.messageID)/reply")
        }
    }
}

/// Why a row was not accepted: the field and a reason that quotes no value.
struct RowRejection: Error {
    let field: String
    let reason: String
    init(_ field: String, _ reason: String) {
        self.field = field
        self.reason = reason
    }
}

struct Columns {
    let position: [String: Int]
    init(_ names: [String]) {
        var position: [String: Int] = [:]
        for (index, name) in names.enumerated() where position[name] == nil { position[name] = index }
        self.position = position
    }
}

/// One row's values by column name, trimmed.
struct Fields {
    let columns: Columns
    let values: [String]

    func optional(_ name: String) -> String? {
        guard let index = columns.position[name], index < values.count else { return nil }
        let value = values[index].trimmingCharacters(in: .whitespacesAndNewlines)
        return value.isEmpty ? nil : value
    }

    func required(_ name: String) throws -> String {
        guard let value = optional(name) else { throw RowRejection(name, "is empty") }
        return value
    }
}

protocol SourceLoader {
    var requiredColumns: [String] { get }
    func load(_ fields: Fields, on connection: PostgresConnection) throws
}

/// Looks up an org unit by code; nil if there is none.
func unitID(code: String, on connection: PostgresConnection) throws -> Int64? {
    try connection.query("SELECT id FROM org_units WHERE code = $1", [code], prepared: true).first?.decode(Int64.self, at: 0)
}
