import Foundation

/// Which file a load carries: each source has its own columns (docs/ingest.md).
public enum IngestSource: String, Codable, Sendable, CaseIterable {
    case orgUnits = "org_units"
    case people
    case contacts
    case boothResults = "booth_results"
    case callCentres = "call_centres"
    case pollCalendar = "poll_calendar"
    case optOuts = "opt_outs"
}

/// Rows of one file, from `sampark load` to the ingest-worker, in batches.
/// Exchange `sampark.ingest`, routing key `ingest.batch.<source>`.
public struct IngestBatch: SamparkMessage, Equatable {
    public static let messageType = "ingest.batch.v1"

    /// One `sampark load` run; every batch of the run carries it.
    public var loadID: String
    public var source: IngestSource
    /// The file's name (no directories), for error messages.
    public var file: String
    /// 1, 2, 3, ... within the load.
    public var batchNumber: Int
    /// True on the load's last batch.
    public var isLast: Bool
    /// The file's header: the names of the columns, in order. (A list, not a dictionary per
    /// row: keys of JSON objects would go through the snake_case key conversion.)
    public var columns: [String]
    public var rows: [Row]

    public struct Row: Codable, Sendable, Equatable {
        /// The line of the file the row came from (the header is line 1).
        public var line: Int
        /// The values, in the order of `columns`, as read (not yet validated).
        public var values: [String]
        public init(line: Int, values: [String]) {
            self.line = line
            self.values = values
        }
    }

    public init(loadID: String, source: IngestSource, file: String, batchNumber: Int, isLast: Bool,
                columns: [String], rows: [Row]) {
        self.loadID = loadID
        self.source = source
        self.file = file
        self.batchNumber = batchNumber
        self.isLast = isLast
        self.columns = columns
        self.rows = rows
    }
}

/// What the ingest-worker made of one batch. Exchange `sampark.ingest`, routing key
/// `ingest.completed.<source>`.
public struct IngestCompleted: SamparkMessage, Equatable {
    public static let messageType = "ingest.completed.v1"

    public var loadID: String
    public var source: IngestSource
    public var file: String
    public var batchNumber: Int
    public var isLast: Bool
    public var accepted: Int
    /// Each rejected row with its line, field and reason; never the value itself.
    public var rejected: [Rejection]

    public struct Rejection: Codable, Sendable, Equatable {
        public var line: Int
        public var field: String
        public var reason: String
        public init(line: Int, field: String, reason: String) {
            self.line = line
            self.field = field
            self.reason = reason
        }
    }

    public init(loadID: String, source: IngestSource, file: String, batchNumber: Int, isLast: Bool,
                accepted: Int, rejected: [Rejection]) {
        self.loadID = loadID
        self.source = source
        self.file = file
        self.batchNumber = batchNumber
        self.isLast = isLast
        self.accepted = accepted
        self.rejected = rejected
    }
}
