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
    case turnoutMarks = "turnout_marks"

    /// Columns a file of this source must have. The CLI refuses a file without them before
    /// sending a row; the worker checks again (a batch may come from another client).
    public var requiredColumns: [String] {
        switch self {
        case .orgUnits: return ["level", "code", "name"]
        case .people: return ["name", "phones", "role", "unit_code"]
        case .contacts: return ["name", "phone", "booth_code"]
        case .boothResults: return ["election", "booth_code", "party", "votes"]
        case .callCentres: return ["code", "name", "region_codes", "seats"]
        case .pollCalendar: return ["constituency_code", "phase", "poll_date", "poll_close"]
        case .optOuts: return ["phone"]
        case .turnoutMarks: return []     // epic, or ac_number + part_number + serial_number: checked per row
        }
    }

    /// Other names a header may use for a column: `phone` for the people's `phones`.
    public static let columnAliases: [String: String] = ["phone": "phones"]

    /// A header as the loaders read it: trimmed, lower-cased, aliases resolved for this source.
    public func normalizedHeader(_ names: [String]) -> [String] {
        let trimmed = names.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard self == .people, !trimmed.contains("phones") else { return trimmed }
        return trimmed.map { Self.columnAliases[$0] ?? $0 }
    }
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
    /// Lines the CLI could not turn into rows (invalid UTF-8, a wrong number of fields): the
    /// worker records them with the batch, so the load's report counts every line read.
    public var rejected: [IngestCompleted.Rejection]

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

    // On the wire the rows travel as one RFC 4180 text (`rows_csv`, a record per row) with the
    // line of each (`row_lines`): a JSON string per value costs both ends far more than the
    // CSV reader does, and a batch carries thousands of rows.
    enum CodingKeys: String, CodingKey {
        case loadID, source, file, batchNumber, isLast, columns, rowsCsv, rowLines, rejected
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        loadID = try container.decode(String.self, forKey: .loadID)
        source = try container.decode(IngestSource.self, forKey: .source)
        file = try container.decode(String.self, forKey: .file)
        batchNumber = try container.decode(Int.self, forKey: .batchNumber)
        isLast = try container.decode(Bool.self, forKey: .isLast)
        columns = try container.decode([String].self, forKey: .columns)
        rejected = try container.decode([IngestCompleted.Rejection].self, forKey: .rejected)
        let lines = try container.decode([Int].self, forKey: .rowLines)
        let text = try container.decode(String.self, forKey: .rowsCsv)
        var reader = CSVReader(maximumFieldBytes: Int.max)
        let records: [CSVReader.Row]
        do {
            records = try reader.feed(text.utf8) + reader.finish()
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: [CodingKeys.rowsCsv], debugDescription: "not RFC 4180 text"))
        }
        guard records.count == lines.count else {
            throw DecodingError.dataCorrupted(.init(codingPath: [CodingKeys.rowLines], debugDescription: "one line per row"))
        }
        rows = zip(lines, records).map { Row(line: $0, values: $1.fields) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(loadID, forKey: .loadID)
        try container.encode(source, forKey: .source)
        try container.encode(file, forKey: .file)
        try container.encode(batchNumber, forKey: .batchNumber)
        try container.encode(isLast, forKey: .isLast)
        try container.encode(columns, forKey: .columns)
        try container.encode(rejected, forKey: .rejected)
        try container.encode(rows.map(\.line), forKey: .rowLines)
        try container.encode(CSVWriter.text(rows.map(\.values)), forKey: .rowsCsv)
    }

    public init(loadID: String, source: IngestSource, file: String, batchNumber: Int, isLast: Bool,
                columns: [String], rows: [Row], rejected: [IngestCompleted.Rejection] = []) {
        self.rejected = rejected
        self.loadID = loadID
        self.source = source
        self.file = file
        self.batchNumber = batchNumber
        self.isLast = isLast
        self.columns = columns
        self.rows = rows
    }
}

/// What one batch came to, sent to the loader's reply queue as each batch is applied: the
/// CLI shows progress from it, and loads the org tree one batch at a time with it.
public struct IngestBatchApplied: SamparkMessage, Equatable {
    public static let messageType = "ingest.batch.applied.v1"

    public var loadID: String
    public var batchNumber: Int
    public var counts: IngestCounts

    public init(loadID: String, batchNumber: Int, counts: IngestCounts) {
        self.loadID = loadID
        self.batchNumber = batchNumber
        self.counts = counts
    }
}

/// Rows read, and what became of each: `read == inserted + updated + unchanged + rejected`.
public struct IngestCounts: Codable, Sendable, Equatable {
    public var read: Int
    public var inserted: Int
    public var updated: Int
    public var unchanged: Int
    public var rejected: Int

    public init(read: Int = 0, inserted: Int = 0, updated: Int = 0, unchanged: Int = 0, rejected: Int = 0) {
        self.read = read
        self.inserted = inserted
        self.updated = updated
        self.unchanged = unchanged
        self.rejected = rejected
    }

    public var accepted: Int { inserted + updated + unchanged }
    public var addsUp: Bool { read == inserted + updated + unchanged + rejected }
}

/// A load's report, once every batch of it is applied: published on `sampark.ingest` with
/// routing key `ingest.completed.<source>` (an announcement, for whoever listens) and to the
/// loader's reply queue. The same report is stored in `ingest_loads` and `ingest_rejects`.
public struct IngestCompleted: SamparkMessage, Equatable {
    public static let messageType = "ingest.completed.v1"

    public var loadID: String
    public var source: IngestSource
    public var file: String
    public var batches: Int
    public var counts: IngestCounts
    /// Rejected rows counted by field and reason (a line number in a reason counted as
    /// "line N"), most frequent first; at most 20 reasons.
    public var rejectedByReason: [ReasonCount]
    /// The first rejected rows by line (at most 20); `ingest_rejects` holds them all.
    public var firstRejects: [Rejection]
    public var startedAt: Date
    public var finishedAt: Date

    public struct Rejection: Codable, Sendable, Equatable {
        public var line: Int
        public var field: String
        /// Never the value itself: a reason safe to log and to show.
        public var reason: String
        public init(line: Int, field: String, reason: String) {
            self.line = line
            self.field = field
            self.reason = reason
        }
    }

    public struct ReasonCount: Codable, Sendable, Equatable {
        public var field: String
        public var reason: String
        public var count: Int
        public init(field: String, reason: String, count: Int) {
            self.field = field
            self.reason = reason
            self.count = count
        }
    }

    public init(loadID: String, source: IngestSource, file: String, batches: Int, counts: IngestCounts,
                rejectedByReason: [ReasonCount], firstRejects: [Rejection], startedAt: Date, finishedAt: Date) {
        self.loadID = loadID
        self.source = source
        self.file = file
        self.batches = batches
        self.counts = counts
        self.rejectedByReason = rejectedByReason
        self.firstRejects = firstRejects
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }
}

/// A citizen's erasure request, from the central team's grievance desk: exchange
/// `sampark.ingest`, routing key `erasure.request`. The ingest-worker erases everything held of
/// the number in one transaction and keeps it off every list by its keyed hash
/// (docs/security.md); the processing log keeps who asked and why, never the number.
public struct ErasureRequest: SamparkMessage, Equatable {
    public static let messageType = "erasure.request.v1"

    /// The number, +91 and ten digits.
    public var phone: String
    /// Who asked (a desk, an officer, a ticket).
    public var requestedBy: String
    /// Why (the citizen's request and how it came).
    public var reason: String

    public init(phone: String, requestedBy: String, reason: String) {
        self.phone = phone
        self.requestedBy = requestedBy
        self.reason = reason
    }
}

/// One booth agent's mark that a voter has voted, on polling day: exchange `sampark.ingest`,
/// routing key `turnout.mark`. The voter is named by EPIC id, or by roll position (AC, part,
/// serial, and the state's unit code where the network spans states).
public struct TurnoutMark: SamparkMessage, Equatable {
    public static let messageType = "turnout.mark.v1"

    public var epic: String?
    public var acNumber: Int?
    public var partNumber: Int?
    public var serialNumber: Int?
    public var stateCode: String?
    public var votedAt: Date
    /// Who marked it (a booth agent's id, an app's name): kept as the mark's source.
    public var source: String

    public init(epic: String? = nil, acNumber: Int? = nil, partNumber: Int? = nil, serialNumber: Int? = nil,
                stateCode: String? = nil, votedAt: Date, source: String) {
        self.epic = epic
        self.acNumber = acNumber
        self.partNumber = partNumber
        self.serialNumber = serialNumber
        self.stateCode = stateCode
        self.votedAt = votedAt
        self.source = source
    }
}

/// Campaign material from the central team: exchange `sampark.material`, any routing key.
/// Stored once per (id, version); within its scope the highest version is current.
public struct MaterialPublished: SamparkMessage, Equatable {
    public static let messageType = "material.published.v1"

    public var id: String
    public var version: Int
    public var title: String
    /// The script (or body) per language code: `{"hi": "...", "en": "..."}`.
    public var scripts: [String: String]
    public var questions: [Question]?
    /// Unit codes: the subtrees the material is for.
    public var scope: [String]
    public var validFrom: Date?
    public var validTo: Date?

    public struct Question: Codable, Sendable, Equatable {
        public var id: String
        /// The question per language code.
        public var text: [String: String]
        /// The answers a caller may record; none for a free-text answer.
        public var answers: [String]?
        public init(id: String, text: [String: String], answers: [String]? = nil) {
            self.id = id
            self.text = text
            self.answers = answers
        }
    }

    public init(id: String, version: Int, title: String, scripts: [String: String], questions: [Question]? = nil,
                scope: [String], validFrom: Date? = nil, validTo: Date? = nil) {
        self.id = id
        self.version = version
        self.title = title
        self.scripts = scripts
        self.questions = questions
        self.scope = scope
        self.validFrom = validFrom
        self.validTo = validTo
    }
}
