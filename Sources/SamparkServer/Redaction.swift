/// Masks that keep secrets and personal data out of logs and error messages.
///
/// Two rules, both used by the JSON log handler and by ``SettingsError``:
/// - **Secrets in settings**: the value of a variable whose name contains `URL` or `PASSWORD`
///   is never shown in full (``maskSecrets(variable:value:)``).
/// - **Phone numbers**: long runs of digits are masked (``maskDigits(_:)``).
public enum Redaction {
    /// Shortest run of digits that is masked. Phone numbers have 10 digits in India (more with
    /// the country code); 7 also covers local landline numbers. Ports, counts and line numbers
    /// are shorter and stay readable.
    public static let minimumMaskedDigits = 7

    /// The value of a setting as it may be shown to a person.
    ///
    /// - Names containing `PASSWORD` (any case): the whole value becomes `***`.
    /// - Names containing `URL`: the password in the user-info becomes `***`
    ///   (`amqp://sampark:***@host/`), and so do the values of query parameters whose name
    ///   contains `pass` (`?password=***`: libpq accepts that form). This works on malformed
    ///   values too, because a mistyped URL is exactly when the error is shown: everything
    ///   between `://` and the last `@` except the text before the first `:` is masked.
    /// - Other names: the value as given.
    ///
    /// Control characters are escaped in every case so a value cannot forge extra lines, and
    /// the result is cut at 200 characters.
    public static func maskSecrets(variable: String, value: String) -> String {
        let upper = variable.uppercased()
        var shown: String
        if upper.contains("PASSWORD") {
            shown = "***"
        } else if upper.contains("URL") {
            shown = maskURLSecrets(value)
        } else {
            shown = value
        }
        shown = escapeControlCharacters(shown)
        if shown.count > 200 { shown = String(shown.prefix(200)) + "…" }
        return shown
    }

    /// `scheme://user:secret@host/path?password=secret` → `scheme://user:***@host/path?password=***`.
    /// Tolerates values that are not valid URLs (no scheme, unencoded `@` or `/` in the password).
    static func maskURLSecrets(_ value: String) -> String {
        var authorityStart = value.startIndex
        if let range = value.range(of: "://") { authorityStart = range.upperBound }
        var result = value
        // The last `@` ends the user-info: an unencoded `@` inside a password comes before it.
        if let at = value[authorityStart...].lastIndex(of: "@") {
            let userInfo = value[authorityStart..<at]
            let user = userInfo.firstIndex(of: ":").map { userInfo[..<$0] } ?? userInfo
            let masked = user.count == userInfo.count ? String(user) : user + ":***"
            result = String(value[..<authorityStart]) + masked + String(value[at...])
        }
        // Query parameters such as `password=` or `sslpassword=`.
        guard let question = result.firstIndex(of: "?") else { return result }
        let query = result[result.index(after: question)...]
        let items = query.split(separator: "&", omittingEmptySubsequences: false).map { item -> String in
            guard let equals = item.firstIndex(of: "="),
                item[..<equals].lowercased().contains("pass")
            else { return String(item) }
            return item[...equals] + "***"
        }
        return result[...question] + items.joined(separator: "&")
    }

    static func escapeControlCharacters(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.properties.generalCategory == .control {
                switch scalar {
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                default: out += "\\u{" + String(scalar.value, radix: 16) + "}"
                }
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Masks every digit of a long run of digits with `*`, keeping the length and shape.
    ///
    /// The rule, as a safety net against phone numbers in logs:
    /// - A *group* is a maximal sequence of decimal digits (any script: Devanagari digits count).
    /// - Two groups belong to one *run* when exactly one space or hyphen separates them and both
    ///   have at least 3 digits: that is how phone numbers are written (`98765 43210`,
    ///   `011-2345-6789`), while dates and times (`2024-06-12`, 2-digit groups) stay readable.
    /// - A run with 7 or more digits in total has every digit replaced by `*`; separators and
    ///   all other characters stay. `+91 98765 43210` → `+91 ***** *****`, `call 9876543210` →
    ///   `call **********`. No digit of a masked run is kept.
    /// - UUIDs (`8-4-4-4-12` hexadecimal) are left whole: message ids are UUIDs, they are
    ///   generated, and masking digits in them would break tracing a message through the logs.
    ///
    /// Consequences to know: numbers of a million or more (`1500000 rows`) are masked too; log
    /// them with a unit or separators (`1.5M`, `1,500,000`) if they matter.
    public static func maskDigits(_ text: String) -> String {
        // Fast path: most log text has no run long enough to look at.
        var longest = 0, current = 0
        for character in text.unicodeScalars {
            if character.properties.numericType == .decimal { current += 1; longest = max(longest, current) } else { current = 0 }
        }
        // Any run needs a group of >= 3; a 7-digit run needs >= 3 consecutive digits somewhere.
        guard longest >= 3 else { return text }

        let scalars = Array(text.unicodeScalars)
        var mask = [Bool](repeating: false, count: scalars.count)
        var index = 0
        var protectedUntil = 0  // scalars before this index belong to a UUID
        var groups: [(start: Int, end: Int)] = []  // digit groups outside UUIDs, in order
        while index < scalars.count {
            if index >= protectedUntil, isTokenStart(scalars, index), let end = uuidEnd(scalars, index) {
                protectedUntil = end
                index = end
                continue
            }
            if isDigit(scalars[index]) {
                let start = index
                while index < scalars.count, isDigit(scalars[index]) { index += 1 }
                groups.append((start, index))
            } else {
                index += 1
            }
        }
        // Join groups into runs and mark the long runs.
        var runStart = 0
        while runStart < groups.count {
            var runEnd = runStart
            var digits = groups[runStart].end - groups[runStart].start
            while runEnd + 1 < groups.count {
                let left = groups[runEnd], right = groups[runEnd + 1]
                let separatedByOne = right.start - left.end == 1
                    && (scalars[left.end] == " " || scalars[left.end] == "-")
                guard separatedByOne, left.end - left.start >= 3, right.end - right.start >= 3 else { break }
                digits += right.end - right.start
                runEnd += 1
            }
            if digits >= minimumMaskedDigits {
                for group in groups[runStart...runEnd] {
                    for position in group.start..<group.end { mask[position] = true }
                }
            }
            runStart = runEnd + 1
        }
        guard mask.contains(true) else { return text }
        var out = String.UnicodeScalarView()
        for (position, scalar) in scalars.enumerated() { out.append(mask[position] ? "*" : scalar) }
        return String(out)
    }

    private static func isDigit(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.numericType == .decimal
    }

    private static func isHex(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "0"..."9", "a"..."f", "A"..."F": return true
        default: return false
        }
    }

    /// A UUID may only start where no letter or digit precedes it.
    private static func isTokenStart(_ scalars: [Unicode.Scalar], _ index: Int) -> Bool {
        index == 0 || !(scalars[index - 1].properties.isAlphabetic || isDigit(scalars[index - 1]))
    }

    /// The end index of a UUID starting at `index` (and not followed by a letter or digit), or nil.
    private static func uuidEnd(_ scalars: [Unicode.Scalar], _ index: Int) -> Int? {
        let lengths = [8, 4, 4, 4, 12]
        var position = index
        for (number, length) in lengths.enumerated() {
            if number > 0 {
                guard position < scalars.count, scalars[position] == "-" else { return nil }
                position += 1
            }
            for _ in 0..<length {
                guard position < scalars.count, isHex(scalars[position]) else { return nil }
                position += 1
            }
        }
        if position < scalars.count, scalars[position].properties.isAlphabetic || isDigit(scalars[position]) {
            return nil
        }
        return position
    }
}
