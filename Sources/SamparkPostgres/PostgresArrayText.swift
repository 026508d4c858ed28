/// PostgreSQL's array text format (`array_in` / `array_out`), parsed and written by hand:
/// `{a,"b c","with \"quote\"",NULL}`, nested braces for more dimensions, an optional
/// `[1:3]=` bounds prefix, whitespace around elements ignored, backslash escapes inside and
/// outside quotes, and an unquoted `NULL` (any case) meaning SQL NULL while `"NULL"` is the
/// four-letter string.
public enum PostgresArrayText {
    /// One element of a parsed array.
    public indirect enum Element: Hashable, Sendable {
        case null
        case value(String)
        case array([Element])
    }

    /// Why an array literal could not be parsed. Carries a byte offset, never the text.
    public struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        public let reason: String
        public let offset: Int
        public var description: String { "malformed array literal at byte \(offset): \(reason)" }
    }

    /// Parses an array literal; the top level is returned as the list of its elements.
    public static func parse(_ text: String, delimiter: UInt8 = UInt8(ascii: ",")) throws -> [Element] {
        var text = text
        return try text.withUTF8 { (buffer) in try parse(buffer, delimiter: delimiter) }
    }

    /// Parses a one-dimensional array literal into its elements, nil for NULL elements.
    /// An array of more dimensions is an error (Swift arrays here are flat).
    public static func parseOneDimensional(_ text: String, delimiter: UInt8 = UInt8(ascii: ",")) throws -> [String?] {
        var text = text
        return try text.withUTF8 { (buffer) in try parseOneDimensional(buffer, delimiter: delimiter) }
    }

    static func parseOneDimensional(_ bytes: UnsafeBufferPointer<UInt8>, delimiter: UInt8) throws -> [String?] {
        let elements = try parse(bytes, delimiter: delimiter)
        var values: [String?] = []
        values.reserveCapacity(elements.count)
        for element in elements {
            switch element {
            case .null: values.append(nil)
            case .value(let text): values.append(text)
            case .array: throw ParseError(reason: "a multi-dimensional array cannot be read as a flat Swift array", offset: 0)
            }
        }
        return values
    }

    static func parse(_ bytes: UnsafeBufferPointer<UInt8>, delimiter: UInt8) throws -> [Element] {
        var parser = Parser(bytes: bytes, delimiter: delimiter)
        parser.skipSpaces()
        if parser.peek == UInt8(ascii: "[") {
            try parser.skipBounds()
        }
        parser.skipSpaces()
        let elements = try parser.parseArray()
        parser.skipSpaces()
        guard parser.atEnd else { throw ParseError(reason: "unexpected text after the closing brace", offset: parser.index) }
        return elements
    }

    /// Writes an array literal. Every non-NULL element is quoted, so commas, braces, quotes,
    /// backslashes, spaces and the word NULL all survive.
    public static func encode(_ elements: some Sequence<String?>) -> String {
        var output = "{"
        var first = true
        for element in elements {
            if !first { output += "," }
            first = false
            guard let element else {
                output += "NULL"
                continue
            }
            output += "\""
            if element.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") }) {
                for character in element.unicodeScalars {
                    if character == "\\" || character == "\"" { output.unicodeScalars.append("\\") }
                    output.unicodeScalars.append(character)
                }
            } else {
                output += element   // the usual element: nothing to escape, one copy
            }
            output += "\""
        }
        output += "}"
        return output
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        // array_in's scanner_isspace: space, tab, newline, carriage return, vertical tab, form feed.
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0B || byte == 0x0C
    }

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        let delimiter: UInt8
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>, delimiter: UInt8) {
            self.bytes = bytes
            self.delimiter = delimiter
        }

        var atEnd: Bool { index >= bytes.count }
        var peek: UInt8? { atEnd ? nil : bytes[index] }

        mutating func skipSpaces() {
            while let byte = peek, isSpace(byte) { index += 1 }
        }

        /// `[1:3][0:1]=`: bounds other than the default 1 are written this way; the values
        /// keep their order, which is all a Swift array can represent.
        mutating func skipBounds() throws {
            while peek == UInt8(ascii: "[") {
                guard let close = bytes[index...].firstIndex(of: UInt8(ascii: "]")) else {
                    throw ParseError(reason: "unterminated dimension bounds", offset: index)
                }
                index = close + 1
            }
            skipSpaces()
            guard peek == UInt8(ascii: "=") else { throw ParseError(reason: "expected '=' after dimension bounds", offset: index) }
            index += 1
        }

        /// At `{`: reads through the matching `}`.
        mutating func parseArray() throws -> [Element] {
            guard peek == UInt8(ascii: "{") else { throw ParseError(reason: "expected '{'", offset: index) }
            index += 1
            var elements: [Element] = []
            skipSpaces()
            if peek == UInt8(ascii: "}") {
                index += 1
                return elements
            }
            while true {
                skipSpaces()
                guard let byte = peek else { throw ParseError(reason: "unterminated array", offset: index) }
                if byte == UInt8(ascii: "{") {
                    elements.append(.array(try parseArray()))
                } else if byte == UInt8(ascii: "\"") {
                    elements.append(.value(try parseQuoted()))
                } else {
                    elements.append(try parseUnquoted())
                }
                skipSpaces()
                guard let next = peek else { throw ParseError(reason: "unterminated array", offset: index) }
                index += 1
                if next == UInt8(ascii: "}") { return elements }
                guard next == delimiter else { throw ParseError(reason: "expected a delimiter or '}'", offset: index - 1) }
            }
        }

        mutating func parseQuoted() throws -> String {
            index += 1  // opening quote
            var value: [UInt8] = []
            while let byte = peek {
                index += 1
                if byte == UInt8(ascii: "\\") {
                    guard let escaped = peek else { break }
                    value.append(escaped)
                    index += 1
                } else if byte == UInt8(ascii: "\"") {
                    return String(decoding: value, as: UTF8.self)
                } else {
                    value.append(byte)
                }
            }
            throw ParseError(reason: "unterminated quoted element", offset: index)
        }

        mutating func parseUnquoted() throws -> Element {
            var value: [UInt8] = []
            var sawEscape = false
            // Length of `value` up to its last byte that is not trailing whitespace; escaped
            // whitespace counts as content.
            var keep = 0
            let start = index
            while let byte = peek {
                if byte == delimiter || byte == UInt8(ascii: "}") { break }
                if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "\"") {
                    throw ParseError(reason: "unexpected '\(Character(UnicodeScalar(byte)))' in an unquoted element", offset: index)
                }
                index += 1
                if byte == UInt8(ascii: "\\") {
                    guard let escaped = peek else { throw ParseError(reason: "backslash at end of input", offset: index) }
                    value.append(escaped)
                    index += 1
                    sawEscape = true
                    keep = value.count
                } else {
                    value.append(byte)
                    if !isSpace(byte) { keep = value.count }
                }
            }
            value.removeSubrange(keep...)
            if value.isEmpty && !sawEscape {
                throw ParseError(reason: "empty unquoted element", offset: start)
            }
            if !sawEscape, value.count == 4 {
                let upper = value.map { $0 & 0xDF }
                if upper == Array("NULL".utf8) { return .null }
            }
            return .value(String(decoding: value, as: UTF8.self))
        }
    }
}
