/// A PostgreSQL type, by OID (the fixed OIDs of the built-in types from `pg_type.dat`).
public struct PostgresDataType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }

    /// OID 0: let the server infer the parameter's type from the statement.
    public static let unspecified = PostgresDataType(0)
    public static let bool = PostgresDataType(16)
    public static let bytea = PostgresDataType(17)
    public static let name = PostgresDataType(19)
    public static let int8 = PostgresDataType(20)
    public static let int2 = PostgresDataType(21)
    public static let int4 = PostgresDataType(23)
    public static let text = PostgresDataType(25)
    public static let oid = PostgresDataType(26)
    public static let json = PostgresDataType(114)
    public static let float4 = PostgresDataType(700)
    public static let float8 = PostgresDataType(701)
    public static let bpchar = PostgresDataType(1042)
    public static let varchar = PostgresDataType(1043)
    public static let date = PostgresDataType(1082)
    public static let time = PostgresDataType(1083)
    public static let timestamp = PostgresDataType(1114)
    public static let timestamptz = PostgresDataType(1184)
    public static let interval = PostgresDataType(1186)
    public static let numeric = PostgresDataType(1700)
    public static let uuid = PostgresDataType(2950)
    public static let jsonb = PostgresDataType(3802)

    public static let boolArray = PostgresDataType(1000)
    public static let byteaArray = PostgresDataType(1001)
    public static let nameArray = PostgresDataType(1003)
    public static let int2Array = PostgresDataType(1005)
    public static let int4Array = PostgresDataType(1007)
    public static let textArray = PostgresDataType(1009)
    public static let bpcharArray = PostgresDataType(1014)
    public static let varcharArray = PostgresDataType(1015)
    public static let int8Array = PostgresDataType(1016)
    public static let float4Array = PostgresDataType(1021)
    public static let float8Array = PostgresDataType(1022)
    public static let dateArray = PostgresDataType(1182)
    public static let timestampArray = PostgresDataType(1115)
    public static let timestamptzArray = PostgresDataType(1185)
    public static let numericArray = PostgresDataType(1231)
    public static let uuidArray = PostgresDataType(2951)
    public static let jsonArray = PostgresDataType(199)
    public static let jsonbArray = PostgresDataType(3807)

    private static let names: [UInt32: String] = [
        0: "unspecified", 16: "bool", 17: "bytea", 19: "name", 20: "int8", 21: "int2", 23: "int4",
        25: "text", 26: "oid", 114: "json", 700: "float4", 701: "float8", 1042: "bpchar",
        1043: "varchar", 1082: "date", 1083: "time", 1114: "timestamp", 1184: "timestamptz",
        1186: "interval", 1700: "numeric", 2950: "uuid", 3802: "jsonb", 1000: "bool[]",
        1001: "bytea[]", 1003: "name[]", 1005: "int2[]", 1007: "int4[]", 1009: "text[]",
        1014: "bpchar[]", 1015: "varchar[]", 1016: "int8[]", 1021: "float4[]", 1022: "float8[]",
        1182: "date[]", 1115: "timestamp[]", 1185: "timestamptz[]", 1231: "numeric[]",
        2951: "uuid[]", 199: "json[]", 3807: "jsonb[]",
    ]

    private static let elements: [UInt32: PostgresDataType] = [
        1000: .bool, 1001: .bytea, 1003: .name, 1005: .int2, 1007: .int4, 1009: .text,
        1014: .bpchar, 1015: .varchar, 1016: .int8, 1021: .float4, 1022: .float8, 1182: .date,
        1115: .timestamp, 1185: .timestamptz, 1231: .numeric, 2951: .uuid, 199: .json, 3807: .jsonb,
    ]

    /// The element type when this is one of the built-in array types above, else nil.
    public var elementType: PostgresDataType? { Self.elements[rawValue] }

    /// The type's name for messages (`int4`, `text[]`), or `oid 12345` for types this
    /// library has no name for.
    public var description: String { Self.names[rawValue] ?? "oid \(rawValue)" }

    var isInteger: Bool { self == .int2 || self == .int4 || self == .int8 || self == .oid }
    var isTextual: Bool { self == .text || self == .varchar || self == .bpchar || self == .name || self == .unspecified }
}
