import Foundation
import SamparkCore
import SamparkPostgres

/// One source's loader: the rules for a row (pure Swift) and the set-based merge of a batch
/// into its tables (SQL over the staging table). docs/ingest.md is the user's view of both.
protocol SourceLoader: Sendable {
    var source: IngestSource { get }
    /// The staging columns `validate` fills, with their SQL types, in the order of its values.
    var stagedColumns: [(name: String, type: String)] { get }
    /// Columns the merge fills in (ids it resolves), with their SQL types.
    var workColumns: [(name: String, type: String)] { get }
    /// Staging columns joined on besides `line` (indexed, for joins run as index lookups).
    var stageIndexes: [String] { get }
    /// Checks one row and returns its values in the staging columns' order (COPY text
    /// form, nil for NULL), or throws why it is rejected.
    func validate(_ fields: Fields) throws(RowRejection) -> [String?]
    /// Classifies every staged row still pending: rejected (field and reason), inserted,
    /// updated or unchanged, writing what it accepts. Set-based: a handful of statements per
    /// batch, whatever its size.
    func merge(_ stage: Stage) throws
    /// The fast path of a first load: stores a batch whose rows are all valid, all new and all
    /// distinct with one COPY straight into the source's table, without the staging table
    /// and the merge. Returns false, having written nothing, for any other batch; that batch
    /// takes the staged path, which classifies every row.
    func storeIfAllNew(_ rows: [[String?]], on connection: PostgresConnection) throws -> Bool
}

extension SourceLoader {
    var workColumns: [(name: String, type: String)] { [] }
    var stageIndexes: [String] { [] }
    /// Small sources always take the staged path.
    func storeIfAllNew(_ rows: [[String?]], on connection: PostgresConnection) throws -> Bool { false }
}

/// A batch's rows in a temporary table, each with its outcome: `line`, the staged columns,
/// the loader's work columns, then `outcome` (null while pending), `reject_field`,
/// `reject_reason`. The table lives for the session and empties at every commit.
///
/// In the merge SQL the staging table is aliased `s`.
final class Stage {
    let connection: PostgresConnection
    let table: String
    let loader: any SourceLoader
    /// Set by `copyPending`: every row still without an outcome was stored (counted as
    /// inserted without an UPDATE of each).
    private(set) var pendingWereInserted = false
    /// Each staged row's values by line, as `fill` sent them: `copyPending` writes them again
    /// from here rather than reading them back from the server.
    private var stagedValues: [Int: [String?]] = [:]

    init(for loader: any SourceLoader, on connection: PostgresConnection) throws {
        self.connection = connection
        self.loader = loader
        table = "ingest_stage_\(loader.source.rawValue)"
        let columns = (loader.stagedColumns + loader.workColumns).map { "\($0.name) \($0.type)" }.joined(separator: ", ")
        // Unlogged by nature; half-full pages, so the merge's updates of a row's outcome stay on
        // its page (HOT) instead of writing new index entries.
        // One round trip per batch: the table and its indexes exist after the session's first.
        let indexes = (["line"] + loader.stageIndexes).map { "CREATE INDEX IF NOT EXISTS \(table)_\($0) ON \(table) (\($0));" }
        try connection.executeScript("""
            CREATE TEMP TABLE IF NOT EXISTS \(table) (line bigint NOT NULL, \(columns),
                outcome text, reject_field text, reject_reason text, superseded_by bigint)
                WITH (fillfactor = 50) ON COMMIT DELETE ROWS;
            \(indexes.joined(separator: "\n"))
            """)
    }

    /// One row for the staging table: its values, or why it was rejected before staging.
    enum Entry {
        case values([String?])
        case rejected(RowRejection)
    }

    /// COPYs the rows in. (No ANALYZE: the joins to big tables run as index lookups, see
    /// `withIndexLookups`, and the rest only scan the batch.)
    func fill(_ entries: [(line: Int, entry: Entry)]) throws {
        let staged = loader.stagedColumns.map(\.name)
        let nulls = [String?](repeating: nil, count: staged.count)
        let copy = "COPY \(table) (line, \(staged.joined(separator: ", ")), outcome, reject_field, reject_reason) FROM STDIN"
        try connection.copyIn(copy) { writer in
            var buffer: [UInt8] = []
            buffer.reserveCapacity(64 * 1024)
            for (line, entry) in entries {
                let values: [String?]
                switch entry {
                case .values(let staged):
                    values = staged + [nil, nil, nil]
                    stagedValues[line] = staged
                case .rejected(let rejection): values = nulls + ["rejected", rejection.field, rejection.reason]
                }
                CopyText.appendRow([String(line)] + values, to: &buffer)
                if buffer.count >= 60 * 1024 {
                    try writer.write(buffer)
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            if !buffer.isEmpty { try writer.write(buffer) }
        }
    }

    /// Runs one statement of the merge; `s` is the staging table.
    @discardableResult
    func run(_ sql: String, _ binds: [any PostgresEncodable] = []) throws -> Int {
        try connection.execute(sql.replacingOccurrences(of: "{stage}", with: table), binds)
    }

    /// An SQL text expression naming the code in `column` for a reason (`code 'B-404'`):
    /// quoted when it looks like a code, withheld when it does not (a phone number or a name in
    /// the wrong column must not reach a report or a log).
    static func named(_ column: String) -> String {
        """
        CASE WHEN length(\(column)) <= 60 AND length(regexp_replace(\(column), '[^0-9]', '', 'g')) < 7
             THEN 'code ' || quote_literal(\(column))
             ELSE 'the code given (not shown: it does not look like a code)' END
        """
    }

    /// Runs `body` with hash and merge joins off, so statements joining a batch to a table of
    /// millions (contacts) look each staged row up through an index. Without this the planner,
    /// whose statistics of a table being loaded lag behind it, may hash the whole table for
    /// every batch, and a load slows down as the table grows.
    @discardableResult
    func withIndexLookups<T>(_ body: () throws -> T) throws -> T {
        try Self.withIndexLookups(on: connection, body)
    }

    @discardableResult
    static func withIndexLookups<T>(on connection: PostgresConnection, _ body: () throws -> T) throws -> T {
        try connection.execute("SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)")
        let result = try body()
        try connection.execute("SELECT set_config('enable_hashjoin', 'on', true), set_config('enable_mergejoin', 'on', true)")
        return result
    }

    /// Rejects the pending rows that meet `condition`, with `reason` (an SQL text expression
    /// over `s`, so it may name the code that failed).
    func reject(where condition: String, field: String, reason: String) throws {
        try run("""
            UPDATE {stage} s SET outcome = 'rejected', reject_field = $1, reject_reason = \(reason)
            WHERE s.outcome IS NULL AND (\(condition))
            """, [field])
    }

    /// Inserts the pending rows into `table` (`columns` are staging columns of the same names);
    /// where a row with the same `key` is stored, sets its `updating` columns (and `also`) when
    /// `when` holds (by default: when any of them differs). Marks each pending row inserted,
    /// updated, or unchanged (stored and left alone). The batch must hold one row per key
    /// (`dedupe` first): one statement cannot write a stored row twice.
    func upsert(into table: String, columns: [String], key: [String], updating: [String], also: String? = nil,
                when condition: String? = nil) throws {
        let sets = (updating.map { "\($0) = EXCLUDED.\($0)" } + [also].compactMap { $0 }).joined(separator: ", ")
        let changed = condition ?? """
            (\(updating.map { "t.\($0)" }.joined(separator: ", "))) IS DISTINCT FROM (\(updating.map { "EXCLUDED.\($0)" }.joined(separator: ", ")))
            """
        try run("""
            WITH stored AS (
                INSERT INTO \(table) AS t (\(columns.joined(separator: ", ")))
                SELECT \(columns.map { "s.\($0)" }.joined(separator: ", ")) FROM {stage} s WHERE s.outcome IS NULL
                ON CONFLICT (\(key.joined(separator: ", "))) DO UPDATE SET \(sets) WHERE \(changed)
                RETURNING \(key.map { "t.\($0)" }.joined(separator: ", ")), xmax = 0 AS inserted
            )
            UPDATE {stage} s SET outcome = CASE WHEN stored.inserted THEN 'inserted' ELSE 'updated' END
            FROM stored
            WHERE s.outcome IS NULL AND (\(key.map { "s.\($0)" }.joined(separator: ", "))) = (\(key.map { "stored.\($0)" }.joined(separator: ", ")))
            """)
        try mark("unchanged")
    }

    /// Stores every pending row in `table` with one COPY (`columns` are staging columns of the
    /// same names) and marks them inserted. COPY writes a batch's rows together where
    /// `INSERT ... SELECT` writes them one by one: for the big sources that is most of a load.
    func copyPending(into table: String, columns: [String]) throws {
        precondition(!pendingWereInserted, "copyPending runs once, last in a merge")
        // Staged columns come from memory; only what the merge resolved (ids) is read back.
        let staged = Dictionary(uniqueKeysWithValues: loader.stagedColumns.map(\.name).enumerated().map { ($1, $0) })
        let resolved = columns.filter { staged[$0] == nil }
        let rows = try connection.query("""
            SELECT \((["s.line"] + resolved.map { "s.\($0)::text" }).joined(separator: ", ")) FROM \(self.table) s WHERE s.outcome IS NULL
            """)
        guard !rows.isEmpty else { return }
        var text: [UInt8] = []
        text.reserveCapacity(rows.count * 128)
        for row in rows {
            guard let values = stagedValues[try row.decode(Int.self, at: 0)] else {
                throw IngestFailure("a pending row of \(self.table) was not staged by this batch")
            }
            var next = 1
            CopyText.appendRow(try columns.map { column in
                if let index = staged[column] { return values[index] }
                defer { next += 1 }
                return try row.decode(String?.self, at: next)
            }, to: &text)
        }
        let stored = try connection.copyIn("COPY \(table) (\(columns.joined(separator: ", "))) FROM STDIN", chunks: [text])
        guard stored == rows.count else { throw IngestFailure("COPY into \(table) stored \(stored) of \(rows.count) rows") }
        // Exactly the pending rows were stored: they are the inserted ones, and nothing after
        // this in the merge may change them (`counts` relies on it).
        pendingWereInserted = true
    }

    /// Marks the pending rows that meet `condition` with `outcome`.
    func mark(_ outcome: String, where condition: String = "true") throws {
        try run("UPDATE {stage} s SET outcome = $1 WHERE s.outcome IS NULL AND (\(condition))", [outcome])
    }

    /// What to do with the earlier rows of a batch that name the same thing as a later one.
    enum Duplicates {
        /// One row per key is kept (the last line); an earlier row identical in `compared` is
        /// unchanged, a different one is rejected as superseded (naming the line that won).
        case supersededUnlessIdentical(field: String, what: String)
        /// One row per key is kept (the first in `order`); the others are unchanged: they
        /// add nothing (a second opt-out of the same number).
        case unchanged
    }

    /// Leaves one pending row per `key` (an SQL expression over `s`) among rows meeting
    /// `condition`, so that one statement never writes one stored row twice.
    func dedupe(key: String, where condition: String = "true", compared: [String] = [], keep order: String = "s.line DESC",
                duplicates: Duplicates) throws {
        // Most batches have no duplicates: one scan finds that out.
        guard try hasDuplicates([(key: key, condition: condition)]) else { return }
        let kept = """
            WITH kept AS (
                SELECT DISTINCT ON (\(key)) s.line, \(key) AS key FROM {stage} s
                WHERE s.outcome IS NULL AND (\(condition)) ORDER BY \(key), \(order)
            )
            """
        switch duplicates {
        case .unchanged:
            try run("""
                \(kept)
                UPDATE {stage} s SET outcome = 'unchanged', superseded_by = kept.line FROM kept
                WHERE s.outcome IS NULL AND (\(condition)) AND \(key) = kept.key AND s.line <> kept.line
                """)
        case .supersededUnlessIdentical(let field, let what):
            let same = compared.isEmpty ? "true"
                : "ROW(\(compared.map { "s.\($0)" }.joined(separator: ", "))) IS NOT DISTINCT FROM ROW(\(compared.map { "k.\($0)" }.joined(separator: ", ")))"
            try run("""
                \(kept)
                UPDATE {stage} s SET superseded_by = kept.line,
                    outcome = CASE WHEN \(same) THEN 'unchanged' ELSE 'rejected' END,
                    reject_field = CASE WHEN \(same) THEN NULL ELSE $1 END,
                    reject_reason = CASE WHEN \(same) THEN NULL
                        ELSE 'superseded by line ' || kept.line || ' of the file, which names the same ' || $2 END
                FROM kept JOIN {stage} k ON k.line = kept.line
                WHERE s.outcome IS NULL AND (\(condition)) AND \(key) = kept.key AND s.line <> kept.line
                """, [field, what])
        }
    }

    /// Whether any of `keys` (SQL expressions over `s`, each with the condition its rows meet)
    /// repeats among the pending rows: one statement for what would otherwise be one scan
    /// per key, in the usual batch that has no duplicates at all.
    func hasDuplicates(_ keys: [(key: String, condition: String)]) throws -> Bool {
        let tests = keys.map { key, condition in
            "EXISTS (SELECT 1 FROM \(table) s WHERE s.outcome IS NULL AND (\(condition)) GROUP BY \(key) HAVING count(*) > 1)"
        }
        return try connection.query("SELECT \(tests.joined(separator: " OR "))")[0].decode(Bool.self, at: 0)
    }

    /// After the merge: a duplicate counted `unchanged` because it repeats the line that won
    /// is rejected like that line if that line was rejected (nothing of either was stored).
    func settleDuplicates() throws {
        while try run("""
            UPDATE {stage} s SET outcome = 'rejected', reject_field = w.reject_field, reject_reason = w.reject_reason
            FROM {stage} w
            WHERE s.superseded_by = w.line AND s.outcome = 'unchanged' AND w.outcome = 'rejected'
            """) > 0 {}
    }

    /// The batch's counts; every row must have an outcome by now.
    func counts() throws -> IngestCounts {
        let row = try connection.query("""
            SELECT count(*), count(*) FILTER (WHERE outcome = 'inserted'), count(*) FILTER (WHERE outcome = 'updated'),
                   count(*) FILTER (WHERE outcome = 'unchanged'), count(*) FILTER (WHERE outcome = 'rejected'),
                   count(*) FILTER (WHERE outcome IS NULL)
            FROM \(table)
            """)[0]
        let pending = try row.decode(Int.self, at: 5)
        let unclassified = pendingWereInserted ? 0 : pending
        guard unclassified == 0 else {
            // A loader that left rows without an outcome is a bug; failing the batch keeps
            // the report honest (it is retried, then dead-lettered with this reason).
            throw IngestFailure("the \(loader.source.rawValue) merge left \(unclassified) rows without an outcome")
        }
        let counts = IngestCounts(read: try row.decode(Int.self, at: 0),
                                  inserted: try row.decode(Int.self, at: 1) + (pendingWereInserted ? pending : 0),
                                  updated: try row.decode(Int.self, at: 2), unchanged: try row.decode(Int.self, at: 3),
                                  rejected: try row.decode(Int.self, at: 4))
        guard counts.addsUp else { throw IngestFailure("the \(loader.source.rawValue) merge gave a row an unknown outcome") }
        return counts
    }
}

struct IngestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// PostgreSQL's COPY text format: backslash, tab, newline and carriage return escaped. Rows
/// are written as UTF-8 bytes, the form they are sent in.
enum CopyText {
    static func append(_ value: String, to buffer: inout [UInt8]) {
        var value = value
        value.withUTF8 { bytes in
            // The runs between escapes go in whole: every stored number's hash and sealed value
            // (`\x…` hex, one backslash each) took the byte-by-byte way before.
            var start = 0
            for index in bytes.indices {
                let escaped: UInt8
                switch bytes[index] {
                case 0x5C: escaped = 0x5C
                case 0x09: escaped = UInt8(ascii: "t")
                case 0x0A: escaped = UInt8(ascii: "n")
                case 0x0D: escaped = UInt8(ascii: "r")
                default: continue
                }
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
                buffer.append(0x5C)
                buffer.append(escaped)
                start = index + 1
            }
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...]))
        }
    }

    /// One row: the values tab-separated, NULL as `\N`, ended by a line break.
    static func appendRow(_ values: [String?], to buffer: inout [UInt8]) {
        for (index, value) in values.enumerated() {
            if index > 0 { buffer.append(0x09) }
            if let value {
                append(value, to: &buffer)
            } else {
                buffer.append(0x5C)
                buffer.append(UInt8(ascii: "N"))
            }
        }
        buffer.append(0x0A)
    }

    /// A text[] literal for COPY (array syntax first, then COPY's own escaping on top).
    static func array(_ items: [String]) -> String {
        PostgresArrayText.encode(items.map { Optional($0) })
    }
}
