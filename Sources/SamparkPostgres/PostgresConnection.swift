import CLibPQ
import Foundation
import Logging

/// One PostgreSQL session, used synchronously on its own dedicated thread.
///
/// You get one inside ``PostgresPool/withConnection(_:)`` and
/// ``PostgresPool/transaction(isolation:readOnly:retry:_:)``; the closure runs on the
/// connection's thread, so the blocking libpq calls never occupy Swift's cooperative
/// threads. The type is deliberately not `Sendable`: libpq forbids two threads using one
/// connection, and the compiler then refuses to let it escape into a `Task`. Do not smuggle
/// it out of the closure.
///
/// Values always travel as parameters (`$1`, `$2`, ...) beside the SQL, never in it.
public final class PostgresConnection {
    private(set) var owner: PGConnectionOwner
    private(set) var cancelToken: CancelToken?
    let configuration: PostgresConfiguration
    let logger: Logger
    /// Set once libpq reports the connection bad or a class-08 error arrives; the pool then
    /// discards the connection instead of reusing it.
    private(set) var isBroken = false
    /// Prepared statements by SQL text and parameter types, for `prepared: true` calls.
    private var statements: [String: String] = [:]
    private var statementCounter = 0
    private static let statementCacheLimit = 512

    /// Opens a connection (blocking) and sets the session up. Call only on a worker thread.
    init(configuration: PostgresConfiguration, logger: Logger) throws(PostgresError) {
        self.configuration = configuration
        self.logger = logger
        self.owner = try LibPQ.connect(configuration)
        self.cancelToken = CancelToken(connection: owner)
        try setUpSession()
    }

    /// TimeZone UTC and DateStyle ISO make timestamp text unambiguous for the decoders;
    /// bytea_output hex is what ``Data`` decodes; extra_float_digits 3 gives exact floats
    /// on servers older than 12 too. Set through parameters like everything else.
    private func setUpSession() throws(PostgresError) {
        _ = try query(
            "SELECT set_config($1, $2, false), set_config($3, $4, false), set_config($5, $6, false), set_config($7, $8, false)",
            ["TimeZone", "UTC", "DateStyle", "ISO", "bytea_output", "hex", "extra_float_digits", "3"])
    }

    /// Replaces a connection the server has closed while it sat idle (a restart, an idle
    /// timeout) with a fresh one, before anyone sends a query on it. Returns true if it did.
    func reconnectIfStale() throws(PostgresError) -> Bool {
        guard isStale() else { return false }
        logger.info("postgres connection closed by the server while idle; reconnecting")
        owner = try LibPQ.connect(configuration)
        cancelToken = CancelToken(connection: owner)
        statements.removeAll()
        isBroken = false
        try setUpSession()
        return true
    }

    /// True when the server has closed the connection. While idle the server sends nothing
    /// unless it is going away (a FATAL ErrorResponse, then EOF), so a readable socket is
    /// read through libpq, which then notices the EOF and marks the connection bad.
    func isStale() -> Bool {
        if owner.isBad { return true }
        let socket = PQsocket(owner.pointer)
        guard socket >= 0 else { return true }
        for _ in 0..<4 {
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 0)
            if ready <= 0 { return owner.isBad }
            if PQconsumeInput(owner.pointer) == 0 { return true }
            if owner.isBad { return true }
        }
        return owner.isBad
    }

    /// The server's version as an integer (150004 for 15.4).
    public var serverVersion: Int { Int(PQserverVersion(owner.pointer)) }

    /// Whether a transaction is open on this connection.
    public var isInTransaction: Bool {
        let status = PQtransactionStatus(owner.pointer)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR
    }

    /// Runs one statement with parameters and returns its rows.
    ///
    /// - Parameters:
    ///   - sql: One statement, with `$1`, `$2`, ... where values go.
    ///   - binds: The values, in order. `Optional.none` binds NULL.
    ///   - prepared: Prepare the statement once per connection and reuse it (saves parsing
    ///     and planning for statements run often). The cache is keyed by SQL text and
    ///     parameter types.
    @discardableResult
    public func query(_ sql: String, _ binds: [any PostgresEncodable] = [], prepared: Bool = false) throws(PostgresError) -> PostgresRows {
        let encoded = try EncodedBinds(binds)
        if prepared, let rows = try queryPrepared(sql, encoded) { return rows }
        let raw = encoded.withPointers { types, values in
            PQexecParams(owner.pointer, sql, Int32(encoded.count), types, values, nil, nil, 0)
        }
        return PostgresRows(try checked(raw))
    }

    /// Runs one statement with parameters and returns the number of rows it affected
    /// (0 for statements that report no count).
    @discardableResult
    public func execute(_ sql: String, _ binds: [any PostgresEncodable] = [], prepared: Bool = false) throws(PostgresError) -> Int {
        try query(sql, binds, prepared: prepared).affectedRows ?? 0
    }

    /// Runs SQL text that may hold several statements (a migration file), through the simple
    /// query protocol. It takes no parameters: use it for fixed DDL only, never for SQL
    /// built from values.
    public func executeScript(_ sql: String) throws(PostgresError) {
        _ = try checked(PQexec(owner.pointer, sql))
    }

    private func queryPrepared(_ sql: String, _ encoded: EncodedBinds) throws(PostgresError) -> PostgresRows? {
        let key = encoded.types.map(String.init).joined(separator: ",") + "\u{0}" + sql
        var name = statements[key]
        if name == nil {
            guard statements.count < Self.statementCacheLimit else { return nil }
            statementCounter += 1
            let newName = "sampark_s\(statementCounter)"
            let raw = encoded.types.withUnsafeBufferPointer { types in
                PQprepare(owner.pointer, newName, sql, Int32(encoded.count), types.baseAddress)
            }
            _ = try checked(raw)
            statements[key] = newName
            name = newName
        }
        guard let name else { return nil }
        let raw = encoded.withPointers { _, values in
            PQexecPrepared(owner.pointer, name, Int32(encoded.count), values, nil, nil, 0)
        }
        do throws(PostgresError) {
            return PostgresRows(try checked(raw))
        } catch {
            guard error.code == "26000" else { throw error }
            // invalid_sql_statement_name: someone ran DISCARD ALL / DEALLOCATE; forget them all.
            statements.removeAll()
            return nil
        }
    }

    /// Turns a libpq result into a handle, or into the error it carries.
    func checked(_ raw: OpaquePointer?) throws(PostgresError) -> ResultHandle {
        guard let raw else { throw failure(nil) }
        let handle = ResultHandle(raw)
        switch handle.status {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return handle
        case PGRES_COPY_IN:
            // Reached only if COPY FROM STDIN went through query(): end it so the
            // connection stays usable.
            _ = PQputCopyEnd(owner.pointer, "COPY FROM STDIN must go through copyIn")
            drainResults()
            throw PostgresError(kind: .usage, message: "COPY ... FROM STDIN must be run with copyIn")
        case PGRES_COPY_OUT, PGRES_COPY_BOTH:
            // No COPY TO STDOUT reader exists; the data would clog the connection. Drop it.
            isBroken = true
            throw PostgresError(kind: .usage, message: "COPY ... TO STDOUT is not supported; the connection was discarded")
        default:
            throw failure(handle)
        }
    }

    /// Builds the error for a failed call and notes whether the connection survived it.
    func failure(_ handle: ResultHandle?) -> PostgresError {
        let error = LibPQ.error(result: handle, connection: owner)
        if owner.isBad || error.isConnectionError {
            isBroken = true
        }
        return error
    }

    /// Reads and frees every pending result, so the connection is ready for the next command.
    func drainResults() {
        while let raw = PQgetResult(owner.pointer) {
            PQclear(raw)
        }
    }

    /// Called by the worker after each job: a transaction left open by the caller is rolled
    /// back, so the next user of the pooled connection starts clean.
    func resetAfterUse() {
        guard !isBroken else { return }
        switch PQtransactionStatus(owner.pointer) {
        case PQTRANS_IDLE:
            return
        case PQTRANS_INTRANS, PQTRANS_INERROR:
            logger.warning("a transaction was left open on a pooled connection; rolling it back")
            do { _ = try query("ROLLBACK") } catch { isBroken = true }
        default:
            // Active or unknown: in the middle of something we cannot finish.
            isBroken = true
        }
    }

    func markBroken() { isBroken = true }
}

/// Parameters encoded once into a single buffer of NUL-terminated strings, so a call makes
/// one allocation rather than one per value.
struct EncodedBinds {
    let types: [Oid]
    private let buffer: [CChar]
    private let offsets: [Int?]
    var count: Int { types.count }

    init(_ binds: [any PostgresEncodable]) throws(PostgresError) {
        var types: [Oid] = []
        var buffer: [CChar] = []
        var offsets: [Int?] = []
        types.reserveCapacity(binds.count)
        offsets.reserveCapacity(binds.count)
        for (position, bind) in binds.enumerated() {
            types.append(bind.postgresType.rawValue)
            let text: String?
            do {
                text = try bind.postgresText()
            } catch let error as PostgresError {
                throw error
            } catch {
                throw PostgresError(kind: .encoding, message: "parameter $\(position + 1) (\(type(of: bind))) could not be encoded")
            }
            guard let text else {
                offsets.append(nil)
                continue
            }
            // Text-format parameters are C strings; PostgreSQL text cannot hold NUL anyway.
            if text.utf8.contains(0) {
                throw PostgresError(kind: .encoding, message: "parameter $\(position + 1) contains a NUL character, which PostgreSQL text cannot store")
            }
            offsets.append(buffer.count)
            // One copy of the whole value (a bound array can be hundreds of kilobytes).
            var utf8 = text
            utf8.withUTF8 { bytes in
                bytes.withMemoryRebound(to: CChar.self) { buffer.append(contentsOf: $0) }
            }
            buffer.append(0)
        }
        self.types = types
        self.buffer = buffer
        self.offsets = offsets
    }

    func withPointers<R>(_ body: (UnsafePointer<Oid>?, UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
        types.withUnsafeBufferPointer { types in
            buffer.withUnsafeBufferPointer { base in
                let values: [UnsafePointer<CChar>?] = offsets.map { offset in offset.map { base.baseAddress! + $0 } }
                return values.withUnsafeBufferPointer { values in
                    body(types.baseAddress, values.baseAddress)
                }
            }
        }
    }
}
