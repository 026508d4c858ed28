import CLibPQ
import Foundation

// Everything that touches libpq pointers lives in this file and in PostgresConnection*.swift,
// PostgresRows.swift and ConnectionWorker.swift; no pointer appears in a public declaration.

/// Owns one `PGresult`.
///
/// `@unchecked Sendable` because a PGresult is never modified after libpq hands it over, and
/// libpq documents that such a result "can be passed around freely between threads". The
/// pointer is freed exactly once, in `deinit`, after the last row referring to it is gone.
final class ResultHandle: @unchecked Sendable {
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) { self.pointer = pointer }

    deinit { PQclear(pointer) }

    var status: ExecStatusType { PQresultStatus(pointer) }

    func errorField(_ code: Int32) -> String? {
        guard let value = PQresultErrorField(pointer, code) else { return nil }
        return String(cString: value)
    }
}

/// Owns one `PGconn`.
///
/// Not Sendable on purpose: libpq forbids using one PGconn from two threads at once, so the
/// only reference lives in the ``PostgresConnection`` that its ``ConnectionWorker``'s thread
/// keeps; every call through it runs on that one thread. `PQfinish` runs in `deinit`.
final class PGConnectionOwner {
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) { self.pointer = pointer }

    deinit { PQfinish(pointer) }

    var isBad: Bool { PQstatus(pointer) == CONNECTION_BAD }

    /// libpq's last message for this connection, first line only (the rest of a lost
    /// connection's message is advice for humans: "This probably means the server ...").
    var errorMessage: String {
        guard let message = PQerrorMessage(pointer) else { return "unknown libpq error" }
        let text = String(cString: message)
        let firstLine = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? text
        return firstLine.isEmpty ? "unknown libpq error" : firstLine
    }
}

/// Owns one `PGcancel`, the one libpq object made to be used from another thread while the
/// connection's own thread is blocked in a query.
///
/// `@unchecked Sendable`: `PQcancel` is documented as safe to call from any thread; calls
/// are further serialized by the worker's cancel lock, and `PQfreeCancel` runs once, in
/// `deinit`, when no lock holder can still reach it.
final class CancelToken: @unchecked Sendable {
    private let pointer: OpaquePointer

    init?(connection: PGConnectionOwner) {
        guard let pointer = PQgetCancel(connection.pointer) else { return nil }
        self.pointer = pointer
    }

    deinit { PQfreeCancel(pointer) }

    /// Asks the server to cancel whatever the connection is running. Blocks briefly (a
    /// round trip to the postmaster); best effort.
    func cancel() {
        var buffer = [CChar](repeating: 0, count: 256)
        _ = PQcancel(pointer, &buffer, Int32(buffer.count))
    }
}

enum LibPQ {
    /// Opens a connection with keyword/value arrays. `expand_dbname` is 0, so a database
    /// name is only ever a name, never parsed as a conninfo string or URL.
    static func connect(_ configuration: PostgresConfiguration) throws(PostgresError) -> PGConnectionOwner {
        let pairs = configuration.libpqKeywords
        let keywords = pairs.map { strdup($0.0) }
        let values = pairs.map { strdup($0.1) }
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        let keywordPointers: [UnsafePointer<CChar>?] = keywords.map { UnsafePointer($0) } + [nil]
        let valuePointers: [UnsafePointer<CChar>?] = values.map { UnsafePointer($0) } + [nil]
        guard let pointer = PQconnectdbParams(keywordPointers, valuePointers, 0) else {
            throw PostgresError(kind: .connectionFailed, code: .sqlclientUnableToEstablishSQLConnection,
                                message: "libpq could not allocate a connection")
        }
        let owner = PGConnectionOwner(pointer)
        guard PQstatus(pointer) == CONNECTION_OK else {
            // The message names host and port, never the password.
            throw PostgresError(kind: .connectionFailed, code: .sqlclientUnableToEstablishSQLConnection,
                                message: fullConnectMessage(owner))
        }
        // libpq's default notice processor prints NOTICEs (which can quote values) to stderr.
        PQsetNoticeProcessor(pointer, { _, _ in }, nil)
        return owner
    }

    /// Connect failures are several lines ("connection to server at ... failed: FATAL: ...");
    /// joined on one line so a log line stays one line.
    private static func fullConnectMessage(_ owner: PGConnectionOwner) -> String {
        guard let message = PQerrorMessage(owner.pointer) else { return "connection failed" }
        return String(cString: message).split(whereSeparator: \.isNewline)
            .map { $0.trimmingSpaces() }.filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// The single choke point where a failed libpq call becomes a ``PostgresError``.
    /// `result` is the failed result, or nil when libpq returned none.
    static func error(result: ResultHandle?, connection: PGConnectionOwner) -> PostgresError {
        let lost = connection.isBad
        guard let result, let primary = result.errorField(SAMPARK_PG_DIAG_MESSAGE_PRIMARY) else {
            // No server ErrorResponse: libpq's own failure (a lost connection, mostly).
            let message = result.flatMap { handle -> String? in
                guard let text = PQresultErrorMessage(handle.pointer).map({ String(cString: $0) }), !text.isEmpty else {
                    return nil
                }
                return text.split(whereSeparator: \.isNewline).first.map(String.init)
            } ?? connection.errorMessage
            return PostgresError(kind: lost ? .connectionLost : .usage, code: lost ? .connectionFailure : nil, message: message)
        }
        let context = result.errorField(SAMPARK_PG_DIAG_CONTEXT)
        var error = PostgresError(
            kind: lost ? .connectionLost : .server,
            code: result.errorField(SAMPARK_PG_DIAG_SQLSTATE).map(PostgresError.Code.init(rawValue:)),
            message: primary,
            detail: result.errorField(SAMPARK_PG_DIAG_MESSAGE_DETAIL),
            hint: result.errorField(SAMPARK_PG_DIAG_MESSAGE_HINT),
            context: context,
            severity: result.errorField(SAMPARK_PG_DIAG_SEVERITY),
            schemaName: result.errorField(SAMPARK_PG_DIAG_SCHEMA_NAME),
            tableName: result.errorField(SAMPARK_PG_DIAG_TABLE_NAME),
            columnName: result.errorField(SAMPARK_PG_DIAG_COLUMN_NAME),
            constraintName: result.errorField(SAMPARK_PG_DIAG_CONSTRAINT_NAME),
            copyLine: context.flatMap(PostgresError.copyLine(fromContext:))
        )
        if lost && error.code == nil { error.code = .connectionFailure }
        return error
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var slice = self
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return slice
    }
}
