import CLibPQ
import Foundation

/// One column of a result: its name and type.
public struct PostgresColumn: Hashable, Sendable {
    public let name: String
    public let type: PostgresDataType
}

/// The shared, immutable part of a result: the PGresult and its column table.
final class ResultStorage: Sendable {
    let handle: ResultHandle
    let columns: [PostgresColumn]
    let indexByName: [String: Int]
    let rowCount: Int

    init(_ handle: ResultHandle) {
        let pointer = handle.pointer
        let fieldCount = Int(PQnfields(pointer))
        var columns: [PostgresColumn] = []
        columns.reserveCapacity(fieldCount)
        var indexByName: [String: Int] = [:]
        for field in 0..<fieldCount {
            let name = PQfname(pointer, Int32(field)).map { String(cString: $0) } ?? ""
            columns.append(PostgresColumn(name: name, type: PostgresDataType(PQftype(pointer, Int32(field)))))
            // With duplicate names (`select a.id, b.id`) the first wins, as in most drivers;
            // use positions or aliases to reach the others.
            if indexByName[name] == nil { indexByName[name] = field }
        }
        self.handle = handle
        self.columns = columns
        self.indexByName = indexByName
        self.rowCount = Int(PQntuples(pointer))
    }

    func isNull(row: Int, column: Int) -> Bool {
        PQgetisnull(handle.pointer, Int32(row), Int32(column)) == 1
    }

    /// The cell's text bytes, valid while `self` is alive (the caller holds it).
    func withBytes<R>(row: Int, column: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        let length = Int(PQgetlength(handle.pointer, Int32(row), Int32(column)))
        guard let value = PQgetvalue(handle.pointer, Int32(row), Int32(column)) else {
            return try body(UnsafeBufferPointer(start: nil, count: 0))
        }
        return try value.withMemoryRebound(to: UInt8.self, capacity: max(length, 1)) {
            try body(UnsafeBufferPointer(start: $0, count: length))
        }
    }
}

/// The rows a statement returned, with its command tag. Sendable and cheap to copy: every
/// copy shares one immutable libpq result, freed when the last copy (and row) is gone.
public struct PostgresRows: RandomAccessCollection, Sendable {
    let storage: ResultStorage
    /// The command tag (`INSERT 0 3`, `SELECT 2`, `COPY 100000`).
    public let commandTag: String
    /// Rows inserted, updated, deleted, selected, moved, fetched or copied, from the command
    /// tag; nil for commands that do not report a count (`CREATE TABLE`).
    public let affectedRows: Int?

    init(_ handle: ResultHandle) {
        self.storage = ResultStorage(handle)
        self.commandTag = PQcmdStatus(handle.pointer).map { String(cString: $0) } ?? ""
        let tuples = PQcmdTuples(handle.pointer).map { String(cString: $0) } ?? ""
        self.affectedRows = Int(tuples)
    }

    /// The result's columns, in order.
    public var columns: [PostgresColumn] { storage.columns }
    public var startIndex: Int { 0 }
    public var endIndex: Int { storage.rowCount }
    public subscript(position: Int) -> PostgresRow {
        precondition(position >= 0 && position < storage.rowCount, "row index out of range")
        return PostgresRow(storage: storage, index: position)
    }
}

/// One row of a result. Columns are reached by name or position and decoded into Swift
/// types; a failure names the column and the expected type, never the value.
///
/// ```swift
/// let name = try row["name", as: String.self]
/// let id = try row.decode(Int.self, at: 0)
/// ```
public struct PostgresRow: Sendable {
    let storage: ResultStorage
    /// The row's position in its result.
    public let index: Int

    public var columns: [PostgresColumn] { storage.columns }

    /// The position of the column named `name`, if the result has one.
    public func columnIndex(named name: String) -> Int? { storage.indexByName[name] }

    /// The raw cell at a position.
    public func cell(at column: Int) throws(PostgresError) -> PostgresCell {
        guard column >= 0 && column < storage.columns.count else {
            throw PostgresError(kind: .usage, message: "the result has no column #\(column) (it has \(storage.columns.count))",
                                columnIndex: column)
        }
        return PostgresCell(storage: .result(storage, row: index, column: column),
                            type: storage.columns[column].type, columnName: storage.columns[column].name)
    }

    /// The raw cell of a named column.
    public func cell(named name: String) throws(PostgresError) -> PostgresCell {
        try cell(at: try position(of: name))
    }

    public func isNull(at column: Int) throws(PostgresError) -> Bool { try cell(at: column).isNull }

    /// Decodes the column at a position.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, at column: Int) throws(PostgresError) -> T {
        try Self.decode(type, from: cell(at: column), index: column)
    }

    /// Decodes a named column.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, column name: String) throws(PostgresError) -> T {
        let column = try position(of: name)
        return try Self.decode(type, from: cell(at: column), index: column)
    }

    /// Decodes a json/jsonb (or text) column with `JSONDecoder`.
    public func decodeJSON<T: Decodable & Sendable>(_ type: T.Type = T.self, at column: Int) throws(PostgresError) -> T {
        try decode(PostgresJSON<T>.self, at: column).value
    }

    /// Decodes a named json/jsonb (or text) column with `JSONDecoder`.
    public func decodeJSON<T: Decodable & Sendable>(_ type: T.Type = T.self, column name: String) throws(PostgresError) -> T {
        try decode(PostgresJSON<T>.self, column: name).value
    }

    /// `try row["name", as: String.self]`
    public subscript<T: PostgresDecodable>(name: String, as type: T.Type = T.self) -> T {
        get throws(PostgresError) { try decode(type, column: name) }
    }

    /// `try row[0, as: Int.self]`
    public subscript<T: PostgresDecodable>(column: Int, as type: T.Type = T.self) -> T {
        get throws(PostgresError) { try decode(type, at: column) }
    }

    private func position(of name: String) throws(PostgresError) -> Int {
        guard let column = storage.indexByName[name] else {
            throw PostgresError(kind: .usage, message: "the result has no column named \"\(name)\"", columnName: name)
        }
        return column
    }

    /// Wraps whatever a decoder threw into a decoding error that names the column and the
    /// type asked for; reasons never carry the value.
    static func decode<T: PostgresDecodable>(_ type: T.Type, from cell: PostgresCell, index: Int?) throws(PostgresError) -> T {
        do {
            return try T.decode(from: cell)
        } catch let failure as PostgresDecodingFailure {
            let column = cell.columnName.map { "column \"\($0)\"" } ?? "a value"
            throw PostgresError(kind: .decoding, message: "cannot decode \(column) of type \(cell.type) as \(T.self): \(failure.reason)",
                                columnName: cell.columnName, expectedType: "\(T.self)", columnIndex: index)
        } catch let error as PostgresError {
            var error = error
            if error.columnName == nil { error.columnName = cell.columnName }
            if error.columnIndex == nil { error.columnIndex = index }
            throw error
        } catch {
            let column = cell.columnName.map { "column \"\($0)\"" } ?? "a value"
            throw PostgresError(kind: .decoding, message: "cannot decode \(column) of type \(cell.type) as \(T.self): \(Swift.type(of: error)) was thrown",
                                columnName: cell.columnName, expectedType: "\(T.self)", columnIndex: index)
        }
    }
}

/// One value of a row (or one element of an array value), in PostgreSQL's text format.
public struct PostgresCell: Sendable {
    enum Storage: Sendable {
        case result(ResultStorage, row: Int, column: Int)
        case text(String?)
    }

    let storage: Storage
    /// The value's PostgreSQL type.
    public let type: PostgresDataType
    /// The column it came from, for messages.
    public let columnName: String?

    init(storage: Storage, type: PostgresDataType, columnName: String?) {
        self.storage = storage
        self.type = type
        self.columnName = columnName
    }

    /// A cell made from text, for decoding values you got elsewhere (and in tests).
    public init(text: String?, type: PostgresDataType, columnName: String? = nil) {
        self.init(storage: .text(text), type: type, columnName: columnName)
    }

    public var isNull: Bool {
        switch storage {
        case .result(let result, let row, let column): return result.isNull(row: row, column: column)
        case .text(let text): return text == nil
        }
    }

    /// The value's text, nil for NULL.
    public var string: String? {
        withBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// The value's text bytes, nil for NULL.
    public var bytes: [UInt8]? {
        withBytes { Array($0) }
    }

    /// Runs `body` over the text bytes; nil for NULL.
    func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R? {
        switch storage {
        case .result(let result, let row, let column):
            if result.isNull(row: row, column: column) { return nil }
            return try result.withBytes(row: row, column: column, body)
        case .text(let text):
            guard var text else { return nil }
            return try text.withUTF8(body)
        }
    }

    /// The bytes of a non-NULL value; a NULL is a decoding failure.
    func withNonNullBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) throws -> R {
        guard let result = try withBytes(body) else { throw PostgresDecodingFailure("the value is NULL; decode an Optional") }
        return result
    }
}
