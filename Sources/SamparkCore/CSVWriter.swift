/// Rows as RFC 4180 text, for ``CSVReader`` to read back exactly: a field holding a comma, a
/// quote or a line break is quoted, with its quotes doubled; records end in LF.
/// An empty record (no fields, or one empty field) is written as `""` so it is not a blank line.
public enum CSVWriter {
    public static func text(_ rows: [[String]]) -> String {
        var out = ""
        out.reserveCapacity(rows.count * 96)
        for row in rows {
            if row.count == 1 && row[0].isEmpty {
                out += "\"\"\n"
                continue
            }
            for (index, field) in row.enumerated() {
                if index > 0 { out += "," }
                append(field, to: &out)
            }
            out += "\n"
        }
        return out
    }

    static func append(_ field: String, to out: inout String) {
        // A leading byte-order mark would be skipped by the reader at the start of the text.
        var needsQuotes = field.utf8.first == 0xEF, hasQuote = false
        for byte in field.utf8 {
            switch byte {
            case 0x22: needsQuotes = true; hasQuote = true
            case 0x2C, 0x0A, 0x0D: needsQuotes = true
            default: continue
            }
        }
        guard needsQuotes else {
            out += field
            return
        }
        out += "\""
        if hasQuote {
            for character in field.unicodeScalars {
                if character == "\"" { out += "\"\"" } else { out.unicodeScalars.append(character) }
            }
        } else {
            out += field
        }
        out += "\""
    }
}
