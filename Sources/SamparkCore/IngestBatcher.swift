/// Turns a CSV file's bytes, as they are read, into the rows of `ingest.batch.v1` batches: the
/// header checked for the source's required columns, every line either a row or a rejection
/// (invalid UTF-8, a wrong number of fields), `batchSize` lines per batch. `sampark load`
/// sends what it returns; the loader tests use it the same way.
///
/// ```swift
/// var batcher = IngestBatcher(source: .contacts, batchSize: 5000)
/// for chunk in file { for batch in try batcher.feed(chunk) { send(batch, isLast: false) } }
/// let last = try batcher.finish()
/// for (i, batch) in last.enumerated() { send(batch, isLast: i == last.count - 1) }
/// ```
public struct IngestBatcher {
    /// One batch's lines: the rows to apply and the lines rejected while reading.
    public struct Batch: Sendable, Equatable {
        public var rows: [IngestBatch.Row] = []
        public var rejected: [IngestCompleted.Rejection] = []
        public var lines: Int { rows.count + rejected.count }
    }

    /// Why a file cannot be loaded at all.
    public struct FileError: Error, Sendable, Equatable, CustomStringConvertible {
        public var line: Int
        public var reason: String
        public var description: String { "line \(line): \(reason)" }
    }

    public let source: IngestSource
    public let batchSize: Int
    /// The header as written (the batches carry it); nil until the first row is read.
    public private(set) var header: [String]?
    private var names: [String] = []
    private var reader = CSVReader()
    private var pending = Batch()
    /// Set when a broken quote stopped the reading: the line is rejected in the last batch.
    public private(set) var stoppedAt: CSVReader.Failure?

    public init(source: IngestSource, batchSize: Int) {
        self.source = source
        self.batchSize = max(1, batchSize)
    }

    /// Reads `bytes`; returns the batches completed by them. A full batch is returned only
    /// once a further line arrives, so the last batch (from `finish`) is never empty unless
    /// the file has no lines at all.
    public mutating func feed(_ bytes: some Sequence<UInt8>) throws(FileError) -> [Batch] {
        guard stoppedAt == nil else { return [] }
        do {
            return try take(try reader.feed(bytes))
        } catch let failure as CSVReader.Failure {
            // The rows before the broken line are good: they are loaded.
            let full = try take(failure.rowsBefore)
            return full + (try stop(at: failure))
        } catch let error as FileError {
            throw error
        } catch {
            throw FileError(line: 0, reason: "\(error)")
        }
    }

    /// Ends the file: returns the remaining batches, the last of them the file's last batch.
    public mutating func finish() throws(FileError) -> [Batch] {
        var batches: [Batch] = []
        if stoppedAt == nil {
            do {
                batches = try take(try reader.finish())
            } catch let failure as CSVReader.Failure {
                _ = try stop(at: failure)
            } catch let error as FileError {
                throw error
            } catch {
                throw FileError(line: 0, reason: "\(error)")
            }
        }
        guard header != nil else { throw FileError(line: 1, reason: "the file is empty: no header row") }
        batches.append(pending)
        pending = Batch()
        return batches
    }

    private mutating func stop(at failure: CSVReader.Failure) throws(FileError) -> [Batch] {
        guard header != nil else { throw FileError(line: failure.line, reason: failure.reason) }
        stoppedAt = failure
        pending.rejected.append(.init(line: failure.line, field: "-", reason: "\(failure.reason); reading stopped here"))
        return []
    }

    private mutating func take(_ rows: [CSVReader.Row]) throws(FileError) -> [Batch] {
        var full: [Batch] = []
        for row in rows {
            guard header != nil else {
                names = source.normalizedHeader(row.fields)
                let missing = source.requiredColumns.filter { !names.contains($0) }
                guard missing.isEmpty else {
                    throw FileError(line: row.line, reason: "the header has no \(missing.joined(separator: ", ")) column")
                }
                header = row.fields
                continue
            }
            if pending.lines >= batchSize {
                full.append(pending)
                pending = Batch()
            }
            if let bad = row.invalidUTF8Field {
                pending.rejected.append(.init(line: row.line, field: bad < names.count ? names[bad] : "-", reason: "is not valid UTF-8"))
            } else if row.fields.count != names.count {
                pending.rejected.append(.init(line: row.line, field: "-",
                                              reason: "has \(row.fields.count) fields; the header has \(names.count)"))
            } else {
                pending.rows.append(IngestBatch.Row(line: row.line, values: row.fields))
            }
        }
        return full
    }
}
