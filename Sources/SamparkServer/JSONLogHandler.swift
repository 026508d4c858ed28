import Foundation
import Logging

/// A swift-log handler that writes one JSON object per line.
///
/// ```json
/// {"ts":"2025-01-31T09:15:02.123Z","level":"info","logger":"sampark.ingest","msg":"handled","source":"SamparkIngest","message_id":"…","queue":"calls.ingest","type":"call.logged.v1"}
/// ```
/// - `ts`: ISO 8601 UTC with milliseconds; `level`: the swift-log level name; `logger`: the
///   logger's label; `msg`: the message; `source`: the module that logged; `error`: present
///   when the log call passed an error.
/// - Then every metadata key as a top-level field, sorted by key. Values are strings; nested
///   metadata stays nested (JSON objects and arrays). A metadata key that equals one of the
///   fixed field names is written as `md_<key>` so it cannot overwrite them.
/// - Metadata is merged as in swift-log: handler metadata, then the metadata provider, then
///   the log call's metadata (the later wins).
/// - **Personal data**: `msg`, `error` and every metadata value pass through
///   ``Redaction/maskDigits(_:)``: runs of 7 or more digits become `*`. Phone numbers must
///   never be logged in the first place; this is the safety net.
///
/// **Convention**: workers put `message_id`, `type` and `queue` in the metadata of every log
/// line about a message, with those exact keys, so one message can be followed through every
/// worker's logs:
/// ```swift
/// logger.info("handled", metadata: ["message_id": "\(id)", "type": "\(type)", "queue": "\(queue)"])
/// ```
public struct JSONLogHandler: LogHandler {
    /// The fixed fields, in the order they are written.
    public static let fixedFields = ["ts", "level", "logger", "msg", "source", "error"]

    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata
    public var metadataProvider: Logger.MetadataProvider?
    /// The logger's label, written as `logger`.
    public let label: String
    private let sink: LogSink
    private let now: @Sendable () -> Date

    /// - Parameters:
    ///   - sink: where lines go; standard output by default.
    ///   - now: the clock, injectable so tests can check `ts` exactly.
    public init(
        label: String,
        level: Logger.Level = .info,
        sink: LogSink = .standardOutput,
        metadataProvider: Logger.MetadataProvider? = nil,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.label = label
        self.logLevel = level
        self.metadata = [:]
        self.metadataProvider = metadataProvider
        self.sink = sink
        self.now = now
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }
        let line = Self.encode(
            timestamp: now(), level: event.level, label: label, message: event.message.description,
            source: event.source, error: event.error.map { String(describing: $0) }, metadata: merged)
        sink.write(line)
    }

    /// One line, newline included. Internal so tests can check the encoding directly.
    static func encode(
        timestamp: Date, level: Logger.Level, label: String, message: String, source: String,
        error: String?, metadata: Logger.Metadata
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256 + message.utf8.count)
        out.append(UInt8(ascii: "{"))
        JSONText.appendKey("ts", to: &out, first: true)
        JSONText.appendString(Timestamp.iso8601Milliseconds(timestamp), to: &out)
        JSONText.appendKey("level", to: &out)
        JSONText.appendString(level.rawValue, to: &out)
        JSONText.appendKey("logger", to: &out)
        JSONText.appendString(label, to: &out)
        JSONText.appendKey("msg", to: &out)
        JSONText.appendString(Redaction.maskDigits(message), to: &out)
        JSONText.appendKey("source", to: &out)
        JSONText.appendString(source, to: &out)
        if let error {
            JSONText.appendKey("error", to: &out)
            JSONText.appendString(Redaction.maskDigits(error), to: &out)
        }
        for key in metadata.keys.sorted() {
            let name = fixedFields.contains(key) ? "md_" + key : key
            JSONText.appendKey(name, to: &out)
            appendValue(metadata[key]!, to: &out)
        }
        out.append(contentsOf: "}\n".utf8)
        return out
    }

    private static func appendValue(_ value: Logger.Metadata.Value, to out: inout [UInt8]) {
        switch value {
        case .string(let text):
            JSONText.appendString(Redaction.maskDigits(text), to: &out)
        case .stringConvertible(let convertible):
            JSONText.appendString(Redaction.maskDigits(convertible.description), to: &out)
        case .array(let values):
            out.append(UInt8(ascii: "["))
            for (index, element) in values.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                appendValue(element, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .dictionary(let dictionary):
            out.append(UInt8(ascii: "{"))
            for (index, key) in dictionary.keys.sorted().enumerated() {
                JSONText.appendKey(key, to: &out, first: index == 0)
                appendValue(dictionary[key]!, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }
}

/// JSON string encoding by hand: `JSONEncoder` per log line would allocate far more, and it
/// cannot keep the field order.
enum JSONText {
    static func appendKey(_ key: String, to out: inout [UInt8], first: Bool = false) {
        if !first { out.append(UInt8(ascii: ",")) }
        appendString(key, to: &out)
        out.append(UInt8(ascii: ":"))
    }

    /// Escapes `"` and `\`, every control character (U+0000–U+001F, U+007F) and U+2028/U+2029
    /// (legal in JSON, but line breaks to JavaScript and some log viewers). Everything else is
    /// written as UTF-8.
    static func appendString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out.append(contentsOf: #"\""#.utf8)
            case "\\": out.append(contentsOf: #"\\"#.utf8)
            case "\n": out.append(contentsOf: #"\n"#.utf8)
            case "\r": out.append(contentsOf: #"\r"#.utf8)
            case "\t": out.append(contentsOf: #"\t"#.utf8)
            case "\u{08}": out.append(contentsOf: #"\b"#.utf8)
            case "\u{0C}": out.append(contentsOf: #"\f"#.utf8)
            case "\u{00}"..."\u{1F}", "\u{7F}", "\u{2028}", "\u{2029}":
                out.append(contentsOf: "\\u".utf8)
                let hex = String(scalar.value, radix: 16)
                out.append(contentsOf: String(repeating: "0", count: 4 - hex.count).utf8)
                out.append(contentsOf: hex.utf8)
            default:
                out.append(contentsOf: String(scalar).utf8)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// `2025-01-31T09:15:02.123Z` without a shared `DateFormatter`: formatters are costly to make
/// and not documented as thread-safe on Linux, and every thread logs.
enum Timestamp {
    static func iso8601Milliseconds(_ date: Date) -> String {
        // To the nearest millisecond: `Date` is a binary double, so .123 is stored as
        // .12299…, and truncating would print .122.
        let total = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let seconds = total >= 0 ? total / 1000 : (total - 999) / 1000  // floor division
        let milliseconds = total - seconds * 1000
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return pad(parts.tm_year + 1900, 4) + "-" + pad(parts.tm_mon + 1, 2) + "-" + pad(parts.tm_mday, 2)
            + "T" + pad(parts.tm_hour, 2) + ":" + pad(parts.tm_min, 2) + ":" + pad(parts.tm_sec, 2)
            + "." + pad(Int32(milliseconds), 3) + "Z"
    }
}
