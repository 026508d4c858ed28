/// A streaming CSV reader (RFC 4180, UTF-8): bytes go in as they are read from a file, rows
/// come out with the line they started on, so every error can name its file and line.
///
/// Quoted fields may hold commas, doubled quotes and line breaks; LF and CRLF both end a
/// row; a UTF-8 byte-order mark at the start is skipped; blank lines are skipped. A field that
/// is not valid UTF-8 is named in ``Row/invalidUTF8Field`` (its text holds U+FFFD in place of
/// the bad bytes), so the caller can reject the row by line and column. Memory is bounded by
/// the longest row, never by the file.
///
/// ```swift
/// var reader = CSVReader()
/// for chunk in file { for row in try reader.feed(chunk) { ... } }
/// for row in try reader.finish() { ... }
/// ```
public struct CSVReader {
    public struct Row: Sendable, Equatable {
        /// The line the row starts on (1 is the file's first line, normally the header).
        public var line: Int
        public var fields: [String]
        /// The index of the first field that is not valid UTF-8, if any.
        public var invalidUTF8Field: Int?
    }

    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public var line: Int
        public var reason: String
        /// The rows completed in the same `feed` before the failure: they are good rows.
        public var rowsBefore: [Row] = []
        public var description: String { "line \(line): \(reason)" }
    }

    private enum State { case fieldStart, unquoted, quoted, quoteInQuoted }

    private var state = State.fieldStart
    private var field: [UInt8] = []
    private var fields: [String] = []
    private var invalidUTF8Field: Int?
    private var line = 1
    private var rowLine = 1
    private var atStart = true
    private var pendingCR = false
    /// The longest field accepted, so a missing closing quote cannot swallow a whole file.
    public var maximumFieldBytes: Int

    public init(maximumFieldBytes: Int = 1 << 20) {
        self.maximumFieldBytes = maximumFieldBytes
    }

    public mutating func feed(_ bytes: some Sequence<UInt8>) throws(Failure) -> [Row] {
        var rows: [Row] = []
        do throws(Failure) {
            try feed(bytes, into: &rows)
        } catch {
            var failure = error
            failure.rowsBefore = rows
            throw failure
        }
        return rows
    }

    private mutating func feed(_ bytes: some Sequence<UInt8>, into rows: inout [Row]) throws(Failure) {
        // One copy into an array (a memcpy for a String's UTF-8 or an array slice), so runs of
        // plain field bytes can be copied whole rather than stepped through one by one.
        let buffer = Array(bytes)
        let quote: UInt8 = 0x22, comma: UInt8 = 0x2C, lf: UInt8 = 0x0A, cr: UInt8 = 0x0D
        var index = 0
        while index < buffer.count {
            if !atStart && bomSeen == 0 && !pendingCR && (state == .unquoted || state == .quoted) {
                // The bytes up to the next one that can end the field (or, quoted, the quote or
                // a line break, which is counted) are the field's.
                let quoted = state == .quoted
                var end = index
                while end < buffer.count {
                    let byte = buffer[end]
                    if byte == quote || byte == lf || (!quoted && (byte == comma || byte == cr)) { break }
                    end += 1
                }
                if end > index {
                    guard field.count + (end - index) <= maximumFieldBytes else {
                        throw Failure(line: rowLine, reason: "a field is longer than \(maximumFieldBytes) bytes (is a closing quote missing?)")
                    }
                    field.append(contentsOf: buffer[index..<end])
                    index = end
                    continue
                }
            }
            try step(buffer[index], into: &rows)
            index += 1
        }
    }

    private mutating func step(_ byte: UInt8, into rows: inout [Row]) throws(Failure) {
        if atStart {
            atStart = false
            if byte == 0xEF { bomSeen = 1; return }
        }
        if bomSeen > 0 {
            // Skip EF BB BF; anything else is data after all.
            if bomSeen == 1 && byte == 0xBB { bomSeen = 2; return }
            if bomSeen == 2 && byte == 0xBF { bomSeen = 0; return }
            let partial: [UInt8] = bomSeen == 1 ? [0xEF] : [0xEF, 0xBB]
            bomSeen = 0
            for b in partial { try consume(b, into: &rows) }
        }
        try consume(byte, into: &rows)
    }

    private var bomSeen = 0

    /// Ends the input: returns the last row if the file did not end with a line break.
    public mutating func finish() throws(Failure) -> [Row] {
        if state == .quoted {
            throw Failure(line: rowLine, reason: "a quoted field is not closed before the end of the file")
        }
        var rows: [Row] = []
        if state != .fieldStart || !field.isEmpty || !fields.isEmpty { endRow(into: &rows) }
        return rows
    }

    private mutating func consume(_ byte: UInt8, into rows: inout [Row]) throws(Failure) {
        let quote: UInt8 = 0x22, comma: UInt8 = 0x2C, lf: UInt8 = 0x0A, cr: UInt8 = 0x0D
        if pendingCR {
            pendingCR = false
            if byte == lf { return }    // CRLF: the CR already ended the row
        }
        switch state {
        case .fieldStart, .unquoted:
            switch byte {
            case quote where state == .fieldStart && field.isEmpty:
                state = .quoted
            case comma:
                endField()
            case lf, cr:
                line += 1
                if byte == cr { pendingCR = true }
                if fields.isEmpty && field.isEmpty && state == .fieldStart {
                    rowLine = line      // a blank line
                } else {
                    endRow(into: &rows)
                }
            default:
                state = .unquoted
                try append(byte)
            }
        case .quoted:
            if byte == quote {
                state = .quoteInQuoted
            } else {
                if byte == lf { line += 1 }
                try append(byte)
            }
        case .quoteInQuoted:
            switch byte {
            case quote:
                state = .quoted
                try append(quote)
            case comma:
                endField()
            case lf, cr:
                line += 1
                if byte == cr { pendingCR = true }
                endRow(into: &rows)
            default:
                throw Failure(line: line, reason: "text after a closing quote; a quote inside a quoted field is written twice (\"\")")
            }
        }
    }

    private mutating func append(_ byte: UInt8) throws(Failure) {
        guard field.count < maximumFieldBytes else {
            throw Failure(line: rowLine, reason: "a field is longer than \(maximumFieldBytes) bytes (is a closing quote missing?)")
        }
        field.append(byte)
    }

    private mutating func endField() {
        if let text = String(validating: field, as: UTF8.self) {
            fields.append(text)
        } else {
            if invalidUTF8Field == nil { invalidUTF8Field = fields.count }
            fields.append(String(decoding: field, as: UTF8.self))
        }
        field.removeAll(keepingCapacity: true)
        state = .fieldStart
    }

    private mutating func endRow(into rows: inout [Row]) {
        endField()
        rows.append(Row(line: rowLine, fields: fields, invalidUTF8Field: invalidUTF8Field))
        fields = []
        invalidUTF8Field = nil
        rowLine = line
    }
}
