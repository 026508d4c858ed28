/// Whether retrying the same work later can succeed.
///
/// The worker runner acts on this: transient failures go back through a delay queue,
/// permanent ones are dead-lettered with the reason.
public enum RetryClassification: String, Sendable, Hashable {
    /// The same work may succeed if tried again: a serialization failure, a deadlock, a lost
    /// or refused connection, a server shutting down.
    case transient
    /// Trying again will fail the same way: bad input, constraint or schema violations,
    /// decoding failures, misuse of the API.
    case permanent
}

/// Every failure SamparkPostgres reports: server errors, connection failures, decoding
/// failures and misuse.
///
/// `description` is safe to log. It never contains bind values, the server's DETAIL or
/// CONTEXT fields (both can quote row values such as phone numbers), or passwords, and it
/// masks long runs of digits in the server's message (see ``redactDigits(_:)``), because
/// messages such as `invalid input syntax for type bigint: "9876543210"` quote the value.
public struct PostgresError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// Where the failure came from.
    public enum Kind: String, Sendable, Hashable {
        /// The server answered with an ErrorResponse; ``PostgresError/code`` is its SQLSTATE.
        case server
        /// A connection could not be opened (refused, timed out, authentication failed).
        case connectionFailed
        /// An open connection broke while in use (server restart, network failure).
        case connectionLost
        /// A column value could not be decoded into the requested Swift type.
        case decoding
        /// A parameter could not be encoded (for example a JSON value that failed to encode).
        case encoding
        /// The API was used in a way it does not support (for example `copyIn` with SQL that
        /// is not `COPY ... FROM STDIN`, or a column name that is not in the result).
        case usage
        /// The pool was shut down.
        case poolClosed
    }

    /// A SQLSTATE code. Open: any five-character code the server sends can be represented;
    /// the static members name the ones Sampark acts on.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public init(stringLiteral value: String) { self.rawValue = value }
        public var description: String { rawValue }

        /// The two-character class ("08" for connection exceptions, "23" for integrity
        /// constraint violations, ...).
        public var errorClass: String { String(rawValue.prefix(2)) }

        public static let connectionException: Code = "08000"
        public static let connectionDoesNotExist: Code = "08003"
        public static let connectionFailure: Code = "08006"
        public static let sqlclientUnableToEstablishSQLConnection: Code = "08001"
        public static let protocolViolation: Code = "08P01"
        public static let dataException: Code = "22000"
        public static let invalidTextRepresentation: Code = "22P02"
        public static let badCopyFileFormat: Code = "22P04"
        public static let numericValueOutOfRange: Code = "22003"
        public static let notNullViolation: Code = "23502"
        public static let foreignKeyViolation: Code = "23503"
        public static let uniqueViolation: Code = "23505"
        public static let checkViolation: Code = "23514"
        public static let exclusionViolation: Code = "23P01"
        public static let inFailedSQLTransaction: Code = "25P02"
        public static let serializationFailure: Code = "40001"
        public static let deadlockDetected: Code = "40P01"
        public static let syntaxError: Code = "42601"
        public static let undefinedColumn: Code = "42703"
        public static let undefinedTable: Code = "42P01"
        public static let undefinedFunction: Code = "42883"
        public static let queryCanceled: Code = "57014"
        public static let adminShutdown: Code = "57P01"
        public static let crashShutdown: Code = "57P02"
        public static let cannotConnectNow: Code = "57P03"
        public static let tooManyConnections: Code = "53300"
        public static let lockNotAvailable: Code = "55P03"
    }

    /// Where the failure came from.
    public var kind: Kind
    /// The SQLSTATE: the server's for ``Kind/server``; `08001` for ``Kind/connectionFailed``
    /// and `08006` for ``Kind/connectionLost`` when the server sent none (libpq reports lost
    /// connections without one); `nil` for failures that happen only in this client.
    public var code: Code?
    /// The primary, human-readable message. Raw: it can quote a value. Print the error
    /// (``description``) rather than this field.
    public var message: String
    /// The server's DETAIL field. Never printed: it can hold row values (a duplicate key's
    /// phone number, a failing row).
    public var detail: String?
    /// The server's HINT field.
    public var hint: String?
    /// The server's CONTEXT field. Never printed: for COPY it quotes the offending column value.
    public var context: String?
    /// The server's non-localized severity (ERROR, FATAL, PANIC).
    public var severity: String?
    public var schemaName: String?
    public var tableName: String?
    public var columnName: String?
    public var constraintName: String?
    /// For errors raised while the server consumed `COPY ... FROM STDIN` data: the 1-based
    /// line of the input that failed, parsed from the CONTEXT field (`COPY t, line 5, ...`).
    public var copyLine: Int?
    /// For decoding failures: the Swift type that was asked for.
    public var expectedType: String?
    /// For decoding failures: the column's position in the result.
    public var columnIndex: Int?
    /// True when the connection broke while COMMIT was in flight: the transaction may or may
    /// not have committed, so it was not retried automatically. Still transient: a retry is
    /// safe only if the work is idempotent (Sampark's inbox table makes message handling so).
    public var commitOutcomeUnknown: Bool = false

    public init(
        kind: Kind, code: Code? = nil, message: String, detail: String? = nil, hint: String? = nil,
        context: String? = nil, severity: String? = nil, schemaName: String? = nil,
        tableName: String? = nil, columnName: String? = nil, constraintName: String? = nil,
        copyLine: Int? = nil, expectedType: String? = nil, columnIndex: Int? = nil
    ) {
        self.kind = kind
        self.code = code
        self.message = message
        self.detail = detail
        self.hint = hint
        self.context = context
        self.severity = severity
        self.schemaName = schemaName
        self.tableName = tableName
        self.columnName = columnName
        self.constraintName = constraintName
        self.copyLine = copyLine
        self.expectedType = expectedType
        self.columnIndex = columnIndex
    }

    /// True when the connection this error happened on is gone (it was discarded).
    public var isConnectionError: Bool {
        switch kind {
        case .connectionFailed, .connectionLost: return true
        case .server: return code?.errorClass == "08"
        default: return false
        }
    }

    /// Transient: 40001, 40P01, class 08, 57P01/57P02/57P03, and connections that failed or
    /// were lost. Everything else is permanent.
    public var retryClassification: RetryClassification {
        switch kind {
        case .connectionFailed, .connectionLost:
            return .transient
        case .decoding, .encoding, .usage, .poolClosed:
            return .permanent
        case .server:
            guard let code else { return .permanent }
            if code.errorClass == "08" { return .transient }
            switch code {
            case .serializationFailure, .deadlockDetected, .adminShutdown, .crashShutdown, .cannotConnectNow:
                return .transient
            default:
                return .permanent
            }
        }
    }

    /// Shorthand for `retryClassification == .transient`.
    public var retryable: Bool { retryClassification == .transient }

    /// Safe to log: no DETAIL, no CONTEXT, no bind values, long digit runs masked.
    public var description: String {
        var text = "PostgresError(\(kind.rawValue)"
        if let code { text += " \(code.rawValue)" }
        text += retryable ? ", transient" : ", permanent"
        text += "): "
        text += Self.redactDigits(message)
        var facts: [String] = []
        if let tableName {
            facts.append("table " + (schemaName.map { "\($0)." } ?? "") + tableName)
        }
        if let columnName { facts.append("column \(columnName)") }
        if let columnIndex, columnName == nil { facts.append("column #\(columnIndex)") }
        if let constraintName { facts.append("constraint \(constraintName)") }
        if let expectedType { facts.append("expected \(expectedType)") }
        if let copyLine { facts.append("COPY line \(copyLine)") }
        if commitOutcomeUnknown { facts.append("commit outcome unknown") }
        if !facts.isEmpty { text += " [" + facts.map(Self.redactDigits).joined(separator: ", ") + "]" }
        if let hint { text += " hint: " + Self.redactDigits(hint) }
        return text
    }

    public var debugDescription: String { description }

    /// Replaces every run of 7 or more digits with `<redacted>`. A run may contain single
    /// spaces or hyphens between digits (`98765 43210`, `+91-98765-43210`), because that is
    /// how phone numbers are written; any Unicode decimal digit counts (Devanagari digits
    /// are common in our data). Shorter numbers (line numbers, ports, counts) stay readable.
    public static func redactDigits(_ text: String) -> String {
        let characters = Array(text)
        var output = ""
        output.reserveCapacity(text.utf8.count)
        var index = 0
        while index < characters.count {
            guard characters[index].isWholeNumber else {
                output.append(characters[index])
                index += 1
                continue
            }
            // Extend the run over digits and single separators that sit between digits.
            var end = index
            var digits = 0
            var lastDigitEnd = index
            while end < characters.count {
                let character = characters[end]
                if character.isWholeNumber {
                    digits += 1
                    end += 1
                    lastDigitEnd = end
                } else if (character == " " || character == "-"), end + 1 < characters.count,
                    characters[end + 1].isWholeNumber
                {
                    end += 1
                } else {
                    break
                }
            }
            if digits >= 7 {
                output += "<redacted>"
            } else {
                output.append(contentsOf: characters[index..<lastDigitEnd])
            }
            index = lastDigitEnd
        }
        return output
    }

    /// The line number in a CONTEXT such as `COPY t, line 5, column x: "..."`, or nil.
    /// Only CONTEXT lines that start with `COPY ` count: PL/pgSQL frames (`PL/pgSQL function
    /// f() line 3 at RAISE`) also mention lines, of a function body.
    static func copyLine(fromContext context: String) -> Int? {
        for line in context.split(whereSeparator: \.isNewline) where line.hasPrefix("COPY ") {
            guard let range = line.range(of: ", line ") else { continue }
            let digits = line[range.upperBound...].prefix(while: { $0.isASCII && $0.isNumber })
            if let number = Int(digits) { return number }
        }
        return nil
    }
}
