import CLibPQ

extension PostgresConnection {
    /// Streams `COPY ... FROM STDIN` data (text or CSV, as the statement says) and returns
    /// the number of rows the server stored.
    ///
    /// Chunks need not align with rows. Small chunks are gathered into 256 KiB messages;
    /// chunks of 64 KiB or more go to libpq as they are. On a server error the thrown
    /// ``PostgresError`` carries the SQLSTATE and ``PostgresError/copyLine``.
    ///
    /// ```swift
    /// let rows = try conn.copyIn("COPY contacts (phone, name) FROM STDIN (FORMAT csv)", chunks: fileChunks)
    /// ```
    @discardableResult
    public func copyIn(_ sql: String, chunks: some Sequence<[UInt8]>) throws(PostgresError) -> Int {
        try beginCopy(sql)
        let writer = PostgresCopyWriter(connection: self)
        do throws(PostgresError) {
            for chunk in chunks {
                try writer.write(chunk)
            }
            try writer.flush()
        } catch {
            return try finishCopy(abortReason: nil, afterWriteError: error)
        }
        return try finishCopy(abortReason: nil, afterWriteError: nil)
    }

    /// Streams `COPY ... FROM STDIN` data written by `body` and returns the number of rows
    /// stored. Writes are buffered into 256 KiB messages, so writing row by row costs no
    /// round trips. If `body` throws, the COPY is aborted (nothing is stored) and its error
    /// is rethrown.
    ///
    /// ```swift
    /// let rows = try conn.copyIn("COPY t (a, b) FROM STDIN (FORMAT csv)") { writer in
    ///     for item in items { try writer.write("\(item.a),\(item.b)\n") }
    /// }
    /// ```
    @discardableResult
    public func copyIn(_ sql: String, _ body: (PostgresCopyWriter) throws -> Void) throws -> Int {
        try beginCopy(sql)
        let writer = PostgresCopyWriter(connection: self)
        do {
            try body(writer)
            try writer.flush()
        } catch let error as PostgresError where writer.failed {
            // The connection itself failed while sending: collect the server's reason.
            return try finishCopy(abortReason: nil, afterWriteError: error)
        } catch {
            // The caller's own failure: abort the COPY so nothing is stored, then rethrow.
            _ = try? finishCopy(abortReason: "COPY aborted by the client", afterWriteError: nil)
            throw error
        }
        return try finishCopy(abortReason: nil, afterWriteError: nil)
    }

    private func beginCopy(_ sql: String) throws(PostgresError) {
        // Extended protocol with no parameters: COPY takes none, and the statement stays a
        // single command.
        guard let raw = PQexecParams(owner.pointer, sql, 0, nil, nil, nil, nil, 0) else { throw failure(nil) }
        let handle = ResultHandle(raw)
        switch handle.status {
        case PGRES_COPY_IN:
            return
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            throw PostgresError(kind: .usage, message: "copyIn needs a COPY ... FROM STDIN statement")
        case PGRES_COPY_OUT, PGRES_COPY_BOTH:
            markBroken()
            throw PostgresError(kind: .usage, message: "copyIn needs COPY ... FROM STDIN, not TO STDOUT; the connection was discarded")
        default:
            throw failure(handle)
        }
    }

    /// Sends one CopyData message. Blocking mode: libpq returns 1 once the data is queued
    /// (flushing as needed) or -1 on failure.
    func putCopyData(_ bytes: UnsafeRawBufferPointer) throws(PostgresError) {
        var offset = 0
        while offset < bytes.count {
            // A CopyData message is limited to an Int32 length; stay well under it.
            let length = min(bytes.count - offset, 1 << 30)
            let sent = PQputCopyData(owner.pointer, bytes.baseAddress!.advanced(by: offset).assumingMemoryBound(to: CChar.self), Int32(length))
            guard sent == 1 else { throw failure(nil) }
            offset += length
        }
    }

    /// Ends the COPY (or aborts it with a reason) and reads the outcome: the row count, or
    /// the server's error with its COPY line.
    private func finishCopy(abortReason: String?, afterWriteError: PostgresError?) throws(PostgresError) -> Int {
        if afterWriteError == nil || !owner.isBad {
            if PQputCopyEnd(owner.pointer, abortReason) != 1 {
                let error = afterWriteError ?? failure(nil)
                drainResults()
                throw error
            }
        }
        var outcome: Result<Int, PostgresError>?
        while let raw = PQgetResult(owner.pointer) {
            let handle = ResultHandle(raw)
            guard outcome == nil else { continue }
            switch handle.status {
            case PGRES_COMMAND_OK:
                let tuples = PQcmdTuples(raw).map { String(cString: $0) } ?? ""
                outcome = .success(Int(tuples) ?? 0)
            case PGRES_COPY_IN:
                // Still in COPY (PQputCopyEnd could not be sent): give up on the connection.
                markBroken()
                outcome = .failure(afterWriteError ?? failure(nil))
                return try outcome!.get()
            default:
                outcome = .failure(failure(handle))
            }
        }
        if let outcome { return try outcome.get() }
        throw afterWriteError ?? failure(nil)
    }
}

/// Buffers COPY data into large CopyData messages. Handed to the closure of
/// ``PostgresConnection/copyIn(_:_:)``; use it only inside that closure.
public final class PostgresCopyWriter {
    /// Gathered writes are sent when they reach this size: large enough that per-message
    /// costs vanish, small enough to stay in cache.
    static let bufferSize = 256 * 1024
    /// Chunks at least this large are sent without copying them into the buffer first.
    static let directThreshold = 64 * 1024

    private let connection: PostgresConnection
    private var buffer: [UInt8] = []
    /// True once sending failed: the COPY cannot continue.
    private(set) var failed = false
    /// Bytes handed to the writer so far.
    public private(set) var bytesWritten = 0

    init(connection: PostgresConnection) {
        self.connection = connection
        buffer.reserveCapacity(Self.bufferSize)
    }

    /// Appends bytes to the COPY stream.
    public func write(_ bytes: [UInt8]) throws(PostgresError) {
        bytesWritten += bytes.count
        if bytes.count >= Self.directThreshold {
            try flush()
            try send(bytes)
            return
        }
        buffer.append(contentsOf: bytes)
        if buffer.count >= Self.bufferSize { try flush() }
    }

    /// Appends bytes to the COPY stream.
    public func write(_ bytes: some Sequence<UInt8>) throws(PostgresError) {
        let before = buffer.count
        buffer.append(contentsOf: bytes)
        bytesWritten += buffer.count - before
        if buffer.count >= Self.bufferSize { try flush() }
    }

    /// Appends a string's UTF-8 bytes to the COPY stream.
    public func write(_ text: String) throws(PostgresError) {
        var text = text
        let count = text.withUTF8 { utf8 in
            buffer.append(contentsOf: utf8)
            return utf8.count
        }
        bytesWritten += count
        if buffer.count >= Self.bufferSize { try flush() }
    }

    /// Sends what is buffered.
    func flush() throws(PostgresError) {
        guard !buffer.isEmpty else { return }
        try send(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    private func send(_ bytes: [UInt8]) throws(PostgresError) {
        // withUnsafeBytes rethrows untyped errors; carry the typed one out in a Result.
        let outcome = bytes.withUnsafeBytes { raw in
            Result { () throws(PostgresError) in try connection.putCopyData(raw) }
        }
        if case .failure = outcome { failed = true }
        try outcome.get()
    }
}
