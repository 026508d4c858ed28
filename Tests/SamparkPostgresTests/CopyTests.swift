import Foundation
import SamparkPostgres
import Testing

/// `COPY ... FROM STDIN` against the real server from `SAMPARK_TEST_POSTGRES_URL`.
@Suite struct CopyTests {
    /// One row of the test tables. No personal data: generated text only.
    struct Row: Equatable, Sendable, CustomStringConvertible {
        let id: Int
        let name: String
        let note: String?
        let amount: Int?

        /// Byte for byte: String's == would also accept a differently normalized string.
        static func == (left: Row, right: Row) -> Bool {
            left.id == right.id && left.amount == right.amount
                && Array(left.name.utf8) == Array(right.name.utf8)
                && left.note.map { Array($0.utf8) } == right.note.map { Array($0.utf8) }
        }

        var description: String { "Row(id: \(id), name: \(name.debugDescription), note: \(note.debugDescription), amount: \(amount.map(String.init) ?? "nil"))" }
    }

    // MARK: - Data

    /// Rows full of what COPY's text format must escape: tabs, backslashes (also a literal
    /// `\N`, which is not NULL), newlines and carriage returns, Unicode, NULL and empty strings.
    static func textRows(count: Int) -> [Row] {
        (1...count).map { id in
            let name: String
            switch id % 9 {
            case 0: name = "plain \(id)"
            case 1: name = "tab\there\t\(id)"
            case 2: name = "back\\slash \\N and \\t not a tab \(id)"
            case 3: name = "line\nbreak\r\ncrlf \(id)\n"
            case 4: name = "मध्य प्रदेश 🇮🇳 आशा \(id)"
            case 5: name = ""
            case 6: name = "NULL"
            case 7: name = "\\.\n\\."
            default: name = "quote \" and ' and, comma; \(id) \u{1F600}"
            }
            let note: String?
            switch id % 5 {
            case 0: note = nil
            case 1: note = ""
            case 2: note = "नोट\t\(id)\\"
            case 3: note = "\\N"
            default: note = " leading and trailing spaces \(id) "
            }
            let amount: Int? = id % 11 == 0 ? nil : (id % 2 == 0 ? id * 7919 : -id * 104_729)
            return Row(id: id, name: name, note: note, amount: amount)
        }
    }

    /// Text-format escaping (https://www.postgresql.org/docs/current/sql-copy.html).
    static func textField(_ value: String?) -> String {
        guard let value else { return "\\N" }
        var escaped = ""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": escaped += "\\\\"
            case "\t": escaped += "\\t"
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }

    static func textData(_ rows: [Row]) -> [UInt8] {
        var text = ""
        for row in rows {
            text += "\(row.id)\t\(textField(row.name))\t\(textField(row.note))\t\(textField(row.amount.map(String.init)))\n"
        }
        return Array(text.utf8)
    }

    /// Rows whose text fields need CSV quoting: commas, double quotes, newlines (LF and
    /// CRLF) inside fields, empty strings (quoted) beside NULLs (unquoted empty).
    static func csvRows(count: Int) -> [Row] {
        (1...count).map { id in
            let name: String
            switch id % 7 {
            case 0: name = "comma, inside \(id)"
            case 1: name = "say \"hi\", \"bye\" \(id)"
            case 2: name = "multi\nline\r\nfield, \"quoted\" \(id)"
            case 3: name = ""
            case 4: name = "ग्राहक, \"उद्धरण\"\n\(id) 🇮🇳"
            case 5: name = "back\\slash is plain in CSV \\N \(id)"
            default: name = "\"\(id)\""
            }
            let note: String?
            switch id % 4 {
            case 0: note = nil
            case 1: note = ""
            case 2: note = ",,,\n\"\""
            default: note = "  spaces kept  "
            }
            let amount: Int? = id % 13 == 0 ? nil : id * 31 - 1_000
            return Row(id: id, name: name, note: note, amount: amount)
        }
    }

    /// CSV: quoted when needed, and on even ids even when not; NULL is the unquoted empty
    /// field, the empty string is always quoted.
    static func csvField(_ value: String?, alwaysQuote: Bool) -> String {
        guard let value else { return "" }
        let special = value.isEmpty || value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" })
        guard special || alwaysQuote else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func csvData(_ rows: [Row]) -> [UInt8] {
        var text = ""
        for row in rows {
            let quote = row.id % 2 == 0
            text += "\(row.id),\(csvField(row.name, alwaysQuote: quote)),\(csvField(row.note, alwaysQuote: quote)),\(row.amount.map(String.init) ?? "")\n"
        }
        return Array(text.utf8)
    }

    /// The bytes cut into pieces of the given sizes, cycled: pieces end anywhere, inside
    /// rows, escapes and multi-byte characters alike.
    struct Pieces: Sequence, Sendable {
        let bytes: [UInt8]
        let sizes: [Int]

        func makeIterator() -> AnyIterator<[UInt8]> {
            var offset = 0
            var next = 0
            return AnyIterator {
                guard offset < bytes.count else { return nil }
                let size = sizes[next % sizes.count]
                next += 1
                let end = Swift.min(bytes.count, offset + size)
                defer { offset = end }
                return Array(bytes[offset..<end])
            }
        }
    }

    // MARK: - Helpers

    static func createTable(_ table: String, on pool: PostgresPool) async throws {
        try await pool.withConnection { conn in
            try conn.execute("CREATE TABLE \(table) (id integer PRIMARY KEY, name text NOT NULL, note text, amount bigint)")
            try conn.execute("CREATE INDEX ON \(table) (name)")
        }
    }

    static func readBack(_ table: String, from pool: PostgresPool) async throws -> [Row] {
        try await pool.withConnection { conn in
            try conn.query("SELECT id, name, note, amount FROM \(table) ORDER BY id").map { row in
                Row(id: try row[0, as: Int.self], name: try row[1, as: String.self],
                    note: try row[2, as: String?.self], amount: try row[3, as: Int?.self])
            }
        }
    }

    /// Compares every row; on a mismatch reports the count and the first differing row
    /// rather than printing 100,000 rows.
    static func expectSameRows(_ actual: [Row], _ expected: [Row], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(actual.count == expected.count, "row count", sourceLocation: sourceLocation)
        if let index = (0..<Swift.min(actual.count, expected.count)).first(where: { actual[$0] != expected[$0] }) {
            Issue.record("first differing row at \(index): stored \(actual[index]), sent \(expected[index])",
                         sourceLocation: sourceLocation)
        }
    }

    /// The secondary index answers the same as the table: look rows up by name with
    /// sequential scans disabled.
    static func expectIndexAgrees(_ table: String, rows: [Row], pool: PostgresPool) async throws {
        let samples = Array(Set(rows.prefix(20).map(\.name)))
        let expected = samples.map { name in rows.filter { $0.name == name }.count }
        let found = try await pool.withConnection { conn in
            try conn.transaction { conn in
                try conn.execute("SET LOCAL enable_seqscan = off")
                return try samples.map { name in
                    try conn.query("SELECT count(*) AS n FROM \(table) WHERE name = $1", [name]).first?["n", as: Int.self] ?? -1
                }
            }
        }
        #expect(found == expected)
    }

    // MARK: - Tests

    @Test func hundredThousandTextRowsRoundTrip() async throws {
        let rows = Self.textRows(count: 100_000)
        let data = Self.textData(rows)
        try await withTestPool { pool, schema in
            let table = "\(schema).contacts"
            try await Self.createTable(table, on: pool)
            let stored = try await pool.copyIn("COPY \(table) (id, name, note, amount) FROM STDIN", chunks: [data])
            #expect(stored == 100_000)

            let count = try await pool.query("SELECT count(*) AS n, count(note) AS notes, count(*) FILTER (WHERE name = '') AS empty FROM \(table)")
            #expect(try count.first?["n", as: Int.self] == 100_000)
            #expect(try count.first?["notes", as: Int.self] == rows.filter { $0.note != nil }.count)
            #expect(try count.first?["empty", as: Int.self] == rows.filter { $0.name.isEmpty }.count)
            Self.expectSameRows(try await Self.readBack(table, from: pool), rows)
            try await Self.expectIndexAgrees(table, rows: rows, pool: pool)
        }
    }

    @Test func hundredThousandCSVRowsRoundTrip() async throws {
        let rows = Self.csvRows(count: 100_000)
        let data = Self.csvData(rows)
        try await withTestPool { pool, schema in
            let table = "\(schema).contacts"
            try await Self.createTable(table, on: pool)
            // Written row by row through the closure form, as an importer would.
            let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { Array($0) }
            let stored = try await pool.withConnection { conn in
                try conn.copyIn("COPY \(table) (id, name, note, amount) FROM STDIN (FORMAT csv)") { writer in
                    // Quoted newlines split a row into several writes here; the server sees
                    // the same bytes.
                    for (index, line) in lines.enumerated() {
                        try writer.write(String(decoding: line, as: UTF8.self))
                        if index < lines.count - 1 { try writer.write("\n") }
                    }
                }
            }
            #expect(stored == 100_000)
            let count = try await pool.query("SELECT count(*) AS n, count(note) AS notes FROM \(table)")
            #expect(try count.first?["n", as: Int.self] == 100_000)
            #expect(try count.first?["notes", as: Int.self] == rows.filter { $0.note != nil }.count)
            Self.expectSameRows(try await Self.readBack(table, from: pool), rows)
        }
    }

    @Test func chunksNeedNotAlignWithRows() async throws {
        let rows = Self.textRows(count: 20_000)
        let data = Self.textData(rows)
        let csvRows = Self.csvRows(count: 5_000)
        let csv = Self.csvData(csvRows)
        let cuts: [(name: String, sizes: [Int])] = [
            ("whole", [data.count]),
            ("seven", [7]),
            ("hundredKiB", [100 * 1024]),
            // Buffered and direct (>= 64 KiB) writes interleaved: order must survive.
            ("mixed", [7, 100 * 1024, 1, 64 * 1024, 64 * 1024 - 1, 3, 300_000, 2]),
        ]
        try await withTestPool { pool, schema in
            for cut in cuts {
                let table = "\(schema).text_\(cut.name)"
                try await Self.createTable(table, on: pool)
                let stored = try await pool.copyIn("COPY \(table) FROM STDIN", chunks: Pieces(bytes: data, sizes: cut.sizes))
                #expect(stored == rows.count, "\(cut.name)")
                Self.expectSameRows(try await Self.readBack(table, from: pool), rows)
            }
            for cut in cuts.dropFirst() {
                let table = "\(schema).csv_\(cut.name)"
                try await Self.createTable(table, on: pool)
                let stored = try await pool.copyIn("COPY \(table) FROM STDIN (FORMAT csv)", chunks: Pieces(bytes: csv, sizes: cut.sizes))
                #expect(stored == csvRows.count, "\(cut.name)")
                Self.expectSameRows(try await Self.readBack(table, from: pool), csvRows)
            }
        }
    }

    @Test func badRowFailsWithSQLSTATEAndLineAndStoresNothing() async throws {
        try await withTestPool(size: 1) { pool, schema in
            let table = "\(schema).stock"
            try await pool.execute("CREATE TABLE \(table) (id integer PRIMARY KEY, quantity integer NOT NULL, label text)")
            let before = try await backendPID(pool)
            // Row 3 of 5 has a non-integer in the integer column.
            let data = Array("1\t10\tone\n2\t20\ttwo\n3\ttwelve\tthree\n4\t40\tfour\n5\t50\tfive\n".utf8)
            // Cut mid-row too, so the failing line is not simply the failing chunk.
            let error = try await #require(throws: PostgresError.self) {
                try await pool.copyIn("COPY \(table) FROM STDIN", chunks: Pieces(bytes: data, sizes: [5]))
            }
            #expect(error.kind == .server)
            #expect(error.code == .invalidTextRepresentation)
            #expect(error.copyLine == 3)  // 1-based line of the COPY input
            #expect(error.columnName == nil || error.columnName == "quantity")
            #expect(!error.retryable)
            #expect(!error.isConnectionError)

            // COPY is one statement: nothing of it is stored, not even rows 1 and 2.
            #expect(try await pool.query("SELECT count(*) AS n FROM \(table)").first?["n", as: Int.self] == 0)
            // The same connection (the pool has one) is usable: not discarded, not stuck in COPY.
            #expect(try await backendPID(pool) == before)
            #expect(pool.statistics.open == 1)
            let good = Array("1\t10\tone\n2\t20\ttwo\n".utf8)
            #expect(try await pool.copyIn("COPY \(table) FROM STDIN", chunks: [good]) == 2)
            #expect(try await pool.query("SELECT sum(quantity) AS s FROM \(table)").first?["s", as: Int.self] == 30)
            #expect(try await backendPID(pool) == before)
        }
    }

    /// The server fails the COPY while megabytes of data are still coming: the client must
    /// still report the server's error and line (not a client-side "no COPY in progress"),
    /// and leave the connection usable.
    @Test func badRowEarlyInALargeCopy() async throws {
        var rows = Self.textRows(count: 50_000)
        let goodData = Self.textData(rows)
        // Row 2 has text in the bigint column.
        rows[1] = Row(id: 2, name: "x", note: nil, amount: nil)
        var text = String(decoding: Self.textData(rows), as: UTF8.self)
        text = text.replacingOccurrences(of: "2\tx\t\\N\t\\N\n", with: "2\tx\t\\N\tnot a number\n")
        let badData = Array(text.utf8)
        try await withTestPool(size: 1) { pool, schema in
            let table = "\(schema).contacts"
            try await Self.createTable(table, on: pool)
            let before = try await backendPID(pool)
            for sizes in [[100 * 1024], [7, 70_000]] {
                let error = try await #require(throws: PostgresError.self) {
                    try await pool.copyIn("COPY \(table) FROM STDIN", chunks: Pieces(bytes: badData, sizes: sizes))
                }
                #expect(error.kind == .server)
                #expect(error.code == .invalidTextRepresentation)
                #expect(error.copyLine == 2)
                #expect(try await pool.query("SELECT count(*) AS n FROM \(table)").first?["n", as: Int.self] == 0)
                #expect(try await backendPID(pool) == before)
            }
            // The same bytes through the closure form.
            let error = try await #require(throws: PostgresError.self) {
                try await pool.withConnection { conn in
                    try conn.copyIn("COPY \(table) FROM STDIN") { writer in
                        for piece in Pieces(bytes: badData, sizes: [4096]) { try writer.write(piece) }
                    }
                }
            }
            #expect(error.code == .invalidTextRepresentation)
            #expect(error.copyLine == 2)
            #expect(try await backendPID(pool) == before)
            // And then a good COPY on the same connection stores everything.
            #expect(try await pool.copyIn("COPY \(table) FROM STDIN", chunks: [goodData]) == 50_000)
        }
    }

    @Test func bodyErrorAbortsCopyAndIsRethrown() async throws {
        try await withTestPool(size: 1) { pool, schema in
            let table = "\(schema).contacts"
            try await Self.createTable(table, on: pool)
            let before = try await backendPID(pool)
            let rows = Self.textRows(count: 30_000)
            let ownError = TestFailure(reason: "the source file went away")
            let written = Recorder<Int>()
            await #expect(throws: ownError) {
                try await pool.withConnection { conn in
                    try conn.copyIn("COPY \(table) FROM STDIN") { writer in
                        // Well over one 256 KiB message, so the server has already received
                        // (and parsed) rows before the body fails.
                        for row in rows {
                            try writer.write("\(row.id)\t\(Self.textField(row.name))\t\(Self.textField(row.note))\t\(Self.textField(row.amount.map(String.init)))\n")
                        }
                        written.append(writer.bytesWritten)
                        throw ownError
                    }
                }
            }
            #expect(written.all.count == 1 && written.all[0] > 512 * 1024)
            #expect(try await pool.query("SELECT count(*) AS n FROM \(table)").first?["n", as: Int.self] == 0)
            // Usable afterwards, on the same connection: not left in COPY mode or a transaction.
            #expect(try await backendPID(pool) == before)
            let inTransaction = try await pool.withConnection { conn in conn.isInTransaction }
            #expect(!inTransaction)
            let stored = try await pool.withConnection { conn in
                try conn.copyIn("COPY \(table) FROM STDIN") { writer in
                    try writer.write("1\tafter\t\\N\t1\n")
                }
            }
            #expect(stored == 1)
            #expect(try await pool.query("SELECT name FROM \(table)").first?["name", as: String.self] == "after")
        }
    }

    @Test func errorDescriptionNeverQuotesTheBadValue() async throws {
        // Phone-like values in an integer column: out of range (22003) and not a number
        // (22P02). The server's message and CONTEXT quote them; the description must not.
        let badValues = ["9876543210", "98765 43210", "+91-98765-43210"]
        try await withTestPool(size: 1) { pool, schema in
            let table = "\(schema).contacts"
            try await pool.execute("CREATE TABLE \(table) (id integer PRIMARY KEY, phone integer)")
            for (position, bad) in badValues.enumerated() {
                let data = Array("1\t1\n2\t2\n3\t\(bad)\n4\t4\n5\t5\n".utf8)
                let error = try await #require(throws: PostgresError.self) {
                    try await pool.copyIn("COPY \(table) FROM STDIN", chunks: [data])
                }
                let code = error.code
                #expect(code == .numericValueOutOfRange || code == .invalidTextRepresentation, "value #\(position)")
                #expect(error.copyLine == 3, "value #\(position)")
                // The raw fields do carry the value (so this check means something)...
                let rawQuotesIt = error.message.contains(bad) || (error.context ?? "").contains(bad)
                #expect(rawQuotesIt, "value #\(position): the server's message no longer quotes the value")
                // ...but nothing printable does. Booleans only, so a failure prints no number.
                let renderings = [error.description, "\(error)", String(reflecting: error), error.debugDescription]
                let leaks = renderings.contains { text in
                    text.contains(bad) || text.contains("9876543210") || text.contains("98765") || text.contains("43210")
                }
                #expect(!leaks, "value #\(position): the error description quotes the phone-like value")
                let longDigitRun = renderings.contains { $0.firstRange(of: /\d{7,}/) != nil }
                #expect(!longDigitRun, "value #\(position)")
                #expect(error.description.contains("COPY line 3"))
            }
            #expect(try await pool.query("SELECT count(*) AS n FROM \(table)").first?["n", as: Int.self] == 0)
        }
    }
}
