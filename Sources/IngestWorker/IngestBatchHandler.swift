import Foundation
import SamparkCore
import SamparkPostgres
import SamparkPrivacy
import SamparkRuntime

/// Handles `ingest.batch.v1`: checks every row of the batch, merges the good ones into their
/// tables in one transaction (all of the batch or none of it), records the batch in its load,
/// and answers the loader with the batch's counts. The transaction that applies a load's last
/// outstanding batch finishes the load: it stores and publishes the report
/// (`ingest.completed.v1`).
///
/// Every row ends inserted, updated, unchanged or rejected with its line, field and reason
/// (never its value); `read == inserted + updated + unchanged + rejected` per batch and per load.
public struct IngestBatchHandler: MessageHandler {
    /// The first rejected rows a report lists; `ingest_rejects` keeps them all.
    static let reportedRejects = 20

    /// Hashes and seals the numbers of people, contacts and opt-outs.
    let vault: PhoneVault

    public init(vault: PhoneVault) { self.vault = vault }

    public func handle(_ batch: IngestBatch, context: HandlerContext) throws {
        let connection = context.connection
        let loader = Self.loader(for: batch.source, vault: vault)
        let counts = try IngestApply.apply(rows: batch.rows, columns: batch.columns, preRejected: batch.rejected,
                                           loader: loader, on: connection) { counts, stage in
            // The same transaction records the batch in its load, so a redelivered batch
            // (found in the inbox) is counted once, and a batch rolled back is not counted.
            try Self.record(batch, counts: counts, stage: stage, context: context)
        }
        // Replies are not mandatory: a loader that has gone (it timed out, or was stopped) has
        // no reply queue any more, and the report is stored and announced all the same.
        if let replyTo = context.replyTo {
            try context.publish(IngestBatchApplied(loadID: batch.loadID, batchNumber: batch.batchNumber, counts: counts),
                                exchange: "", routingKey: replyTo, messageID: "\(context.messageID)/applied", mandatory: false)
        }
    }

    static func loader(for source: IngestSource, vault: PhoneVault) -> any SourceLoader {
        switch source {
        case .orgUnits: return OrgUnitLoader()
        case .people: return PeopleLoader(vault: vault)
        case .contacts: return ContactLoader(vault: vault)
        case .boothResults: return BoothResultLoader()
        case .callCentres: return CallCentreLoader()
        case .pollCalendar: return PollCalendarLoader()
        case .optOuts: return OptOutLoader(vault: vault)
        case .turnoutMarks: return TurnoutMarkLoader(markSource: "file")
        }
    }

    /// Adds the batch to its load (`ingest_loads`, `ingest_rejects`); if it was the load's
    /// last outstanding batch, finishes the load and publishes its report.
    /// `stage` is nil for a batch stored by the fast path (no rejects).
    private static func record(_ batch: IngestBatch, counts: IngestCounts, stage: Stage?, context: HandlerContext) throws -> IngestCounts {
        let connection = context.connection
        // The row lock on the load's row orders concurrent batches of one load: exactly one
        // transaction sees batches_done reach batches_total.
        let load = try connection.query("""
            INSERT INTO ingest_loads AS l (load_id, source, file, batches_total, batches_done, rows_read, inserted, updated, unchanged, rejected)
            VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, $9)
            ON CONFLICT (load_id) DO UPDATE SET batches_total = coalesce(EXCLUDED.batches_total, l.batches_total),
                batches_done = l.batches_done + 1, rows_read = l.rows_read + EXCLUDED.rows_read,
                inserted = l.inserted + EXCLUDED.inserted, updated = l.updated + EXCLUDED.updated,
                unchanged = l.unchanged + EXCLUDED.unchanged, rejected = l.rejected + EXCLUDED.rejected
            RETURNING batches_done, batches_total
            """, [batch.loadID, batch.source.rawValue, batch.file, batch.isLast ? batch.batchNumber : nil,
                  counts.read, counts.inserted, counts.updated, counts.unchanged, counts.rejected], prepared: true)[0]
        try stage?.run("""
            INSERT INTO ingest_rejects (load_id, line, field, reason)
            SELECT $1, line, reject_field, reject_reason FROM {stage} WHERE outcome = 'rejected'
            """, [batch.loadID])
        let done = try load.decode(Int.self, at: 0), total = try load.decode(Int?.self, at: 1)
        guard let total, done >= total else { return counts }

        let report = try finish(loadID: batch.loadID, on: connection)
        try context.publish(report, exchange: Topology.ingestExchange, routingKey: "ingest.completed.\(batch.source.rawValue)",
                            messageID: "\(batch.loadID)/completed", mandatory: false)
        if let replyTo = context.replyTo {
            try context.publish(report, exchange: "", routingKey: replyTo, messageID: "\(batch.loadID)/completed/reply", mandatory: false)
        }
        return counts
    }

    /// Marks the load finished and reads its report back from what the batches stored.
    static func finish(loadID: String, on connection: PostgresConnection) throws -> IngestCompleted {
        let load = try connection.query("""
            UPDATE ingest_loads SET finished_at = now() WHERE load_id = $1
            RETURNING source, file, batches_total, rows_read, inserted, updated, unchanged, rejected, started_at, finished_at
            """, [loadID], prepared: true)[0]
        // Reasons that name a line ("superseded by line 12 ...") are counted together.
        let reasons = try connection.query("""
            SELECT field, regexp_replace(reason, 'line [0-9]+', 'line N') AS reason, count(*) FROM ingest_rejects WHERE load_id = $1
            GROUP BY 1, 2 ORDER BY count(*) DESC, 1, 2 LIMIT $2
            """, [loadID, reportedRejects], prepared: true).map {
            IngestCompleted.ReasonCount(field: try $0.decode(String.self, at: 0), reason: try $0.decode(String.self, at: 1),
                                        count: try $0.decode(Int.self, at: 2))
        }
        let first = try connection.query("""
            SELECT line, field, reason FROM ingest_rejects WHERE load_id = $1 ORDER BY line LIMIT $2
            """, [loadID, reportedRejects], prepared: true).map {
            IngestCompleted.Rejection(line: try $0.decode(Int.self, at: 0), field: try $0.decode(String.self, at: 1),
                                      reason: try $0.decode(String.self, at: 2))
        }
        guard let source = IngestSource(rawValue: try load.decode(String.self, column: "source")) else {
            throw IngestFailure("load \(loadID) names an unknown source")
        }
        let counts = IngestCounts(read: try load.decode(Int.self, column: "rows_read"), inserted: try load.decode(Int.self, column: "inserted"),
                                  updated: try load.decode(Int.self, column: "updated"), unchanged: try load.decode(Int.self, column: "unchanged"),
                                  rejected: try load.decode(Int.self, column: "rejected"))
        return IngestCompleted(loadID: loadID, source: source, file: try load.decode(String.self, column: "file"),
                               batches: try load.decode(Int.self, column: "batches_total"), counts: counts,
                               rejectedByReason: reasons, firstRejects: first,
                               startedAt: try load.decode(Date.self, column: "started_at"),
                               finishedAt: try load.decode(Date.self, column: "finished_at"))
    }
}

/// The path every row takes, from a file's batch or a single message: validate in Swift,
/// stage with COPY, merge in SQL.
enum IngestApply {
    /// Validates and merges `rows`; `finish` runs in the same transaction with the batch's
    /// counts and its staged outcomes still readable (they vanish at commit), or no stage when
    /// the batch was stored by the loader's fast path (every row inserted), and returns the
    /// counts.
    static func apply(rows: [IngestBatch.Row], columns header: [String], preRejected: [IngestCompleted.Rejection],
                      loader: any SourceLoader, on connection: PostgresConnection,
                      finish: (IngestCounts, Stage?) throws -> IngestCounts) throws -> IngestCounts {
        let names = loader.source.normalizedHeader(header)
        let columns = Columns(names)
        let missing = loader.source.requiredColumns.filter { columns.position[$0] == nil }
        var entries: [(line: Int, entry: Stage.Entry)] = preRejected.map { ($0.line, .rejected(RowRejection($0.field, $0.reason))) }
        entries.reserveCapacity(rows.count + preRejected.count)
        for row in rows {
            if let column = missing.first {
                entries.append((row.line, .rejected(RowRejection(column, "is not a column of the file's header"))))
            } else if row.values.count != names.count {
                entries.append((row.line, .rejected(RowRejection("-", "has \(row.values.count) fields; the header has \(names.count)"))))
            } else {
                do throws(RowRejection) {
                    entries.append((row.line, .values(try loader.validate(Fields(columns: columns, values: row.values)))))
                } catch {
                    entries.append((row.line, .rejected(error)))
                }
            }
        }
        do {
            let valid = entries.compactMap { if case .values(let values) = $0.entry { values } else { nil } }
            if !valid.isEmpty, valid.count == entries.count, try loader.storeIfAllNew(valid, on: connection) {
                return try finish(IngestCounts(read: valid.count, inserted: valid.count, updated: 0, unchanged: 0, rejected: 0), nil)
            }
            let stage = try Stage(for: loader, on: connection)
            try stage.fill(entries)
            try loader.merge(stage)
            try stage.settleDuplicates()
            return try finish(try stage.counts(), stage)
        } catch let error as PostgresError where error.code == .uniqueViolation {
            // Another batch stored the same thing between this batch's lookups and its
            // writes. Running the batch again finds it stored and merges into it.
            throw HandlerError.transient("a concurrent batch stored the same \(loader.source.rawValue) row first; retrying")
        }
    }
}
