/// How to reach a PostgreSQL server.
///
/// Built from a `postgres://user:pass@host:port/db?sslmode=require` URL, or empty, in which
/// case libpq fills every missing keyword from the standard `PG*` environment variables
/// (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`, ...) and
/// `~/.pgpass`. The values reach libpq as keyword/value arrays through `PQconnectdbParams`,
/// never as a conninfo string, so no value can inject another keyword.
///
/// `description` masks the password.
public struct PostgresConfiguration: Sendable, Hashable, CustomStringConvertible {
    /// Host name, IP address, or a Unix-socket directory (starts with `/`). nil: libpq's
    /// default (`PGHOST`, then the local socket).
    public var host: String?
    public var port: Int?
    public var user: String?
    /// Never printed.
    public var password: String?
    public var database: String?
    /// Shown in `pg_stat_activity.application_name`. nil: `PGAPPNAME` if set, else
    /// ``defaultApplicationName``.
    public var applicationName: String?
    /// Seconds libpq waits for a connection to be established (libpq's `connect_timeout`).
    public var connectTimeout: Int = 10
    /// TCP keepalives, so a peer that vanished without a FIN/RST (a dropped network, a host
    /// that lost power) is noticed within about `idle + interval * count` seconds instead of
    /// hanging a query for the kernel's two hours.
    public var keepalivesIdle: Int = 30
    public var keepalivesInterval: Int = 10
    public var keepalivesCount: Int = 3
    /// Seconds between the server's checks, during a long statement, that this client is
    /// still connected (PostgreSQL's `client_connection_check_interval`); nil: the server's
    /// default (no check). Without it, the backend of a process killed mid-statement runs the
    /// statement to its end, holding its locks, before it notices.
    public var connectionCheckInterval: Int?
    /// Further libpq keywords (`sslmode`, `sslrootcert`, `target_session_attrs`, `options`,
    /// ...) passed through as given; a URL's query parameters land here. They override the
    /// settings above when they name the same keyword.
    public var parameters: [String: String] = [:]

    /// Used as libpq's `fallback_application_name` when no application name is set anywhere.
    public static let defaultApplicationName = "sampark"

    /// Everything from libpq's defaults and the `PG*` environment variables.
    public init() {}

    public init(
        host: String? = nil, port: Int? = nil, user: String? = nil, password: String? = nil,
        database: String? = nil, applicationName: String? = nil, parameters: [String: String] = [:]
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.applicationName = applicationName
        self.parameters = parameters
    }

    /// Parses a `postgres://` or `postgresql://` URL.
    ///
    /// User, password, host, database and query parameters are percent-decoded. A host in
    /// brackets is an IPv6 address (`[::1]`); a percent-encoded path as host is a socket
    /// directory (`postgres://%2Fvar%2Frun%2Fpostgresql/db`). Query parameters become libpq
    /// keywords. Parts left out fall back to the `PG*` environment variables, as in libpq.
    /// Errors never quote the URL, which may hold a password.
    public init(url: String) throws {
        var rest = Substring(url)
        if rest.hasPrefix("postgresql://") {
            rest = rest.dropFirst("postgresql://".count)
        } else if rest.hasPrefix("postgres://") {
            rest = rest.dropFirst("postgres://".count)
        } else {
            throw Self.invalid("the URL must start with postgres:// or postgresql://")
        }

        // Split off the query first: '?' cannot appear unencoded in the other parts.
        var query: Substring?
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }

        var authority = rest
        var path: Substring?
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            path = rest[rest.index(after: slash)...]
        }

        // The password may contain '@' only percent-encoded, so the last '@' ends the userinfo.
        if let at = authority.lastIndex(of: "@") {
            let userinfo = authority[..<at]
            authority = authority[authority.index(after: at)...]
            if let colon = userinfo.firstIndex(of: ":") {
                user = try Self.decode(userinfo[..<colon], part: "user")
                password = try Self.decode(userinfo[userinfo.index(after: colon)...], part: "password")
            } else {
                user = try Self.decode(userinfo, part: "user")
            }
            if user?.isEmpty == true { user = nil }
        }

        var hostPart = authority
        var portPart: Substring?
        if hostPart.hasPrefix("[") {
            guard let close = hostPart.firstIndex(of: "]") else {
                throw Self.invalid("an IPv6 host is missing its closing ']'")
            }
            let afterClose = hostPart.index(after: close)
            if afterClose < hostPart.endIndex {
                guard hostPart[afterClose] == ":" else { throw Self.invalid("unexpected text after the IPv6 host") }
                portPart = hostPart[hostPart.index(after: afterClose)...]
            }
            hostPart = hostPart[hostPart.index(after: hostPart.startIndex)..<close]
        } else if let colon = hostPart.lastIndex(of: ":") {
            portPart = hostPart[hostPart.index(after: colon)...]
            hostPart = hostPart[..<colon]
        }
        if hostPart.contains(",") {
            throw Self.invalid("several hosts in one URL are not supported; give one host")
        }
        let decodedHost = try Self.decode(hostPart, part: "host")
        host = decodedHost.isEmpty ? nil : decodedHost
        if let portPart, !portPart.isEmpty {
            guard let number = Int(portPart), (1...65535).contains(number) else {
                throw Self.invalid("the port must be a number from 1 to 65535")
            }
            port = number
        }

        if let path, !path.isEmpty {
            database = try Self.decode(path, part: "database")
        }

        if let query, !query.isEmpty {
            for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
                let key: String
                let value: String
                if let equals = pair.firstIndex(of: "=") {
                    key = try Self.decode(pair[..<equals], part: "query parameter name")
                    value = try Self.decode(pair[pair.index(after: equals)...], part: "query parameter")
                } else {
                    key = try Self.decode(pair, part: "query parameter name")
                    value = ""
                }
                guard !key.isEmpty else { throw Self.invalid("a query parameter has no name") }
                switch key {
                // URL parameters that name the parts above replace them, as in libpq.
                case "host": host = value.isEmpty ? nil : value
                case "port":
                    guard let number = Int(value), (1...65535).contains(number) else {
                        throw Self.invalid("the port must be a number from 1 to 65535")
                    }
                    port = number
                case "user": user = value
                case "password": password = value
                case "dbname": database = value
                case "application_name": applicationName = value
                case "connect_timeout":
                    guard let seconds = Int(value) else { throw Self.invalid("connect_timeout must be a whole number of seconds") }
                    connectTimeout = seconds
                default: parameters[key] = value
                }
            }
        }
    }

    /// The keyword/value pairs handed to `PQconnectdbParams`, in order. Only keywords with a
    /// value appear, so libpq falls back to the environment for the others.
    var libpqKeywords: [(String, String)] {
        var pairs: [(String, String)] = []
        if let host { pairs.append(("host", host)) }
        if let port { pairs.append(("port", String(port))) }
        if let user { pairs.append(("user", user)) }
        if let password { pairs.append(("password", password)) }
        if let database { pairs.append(("dbname", database)) }
        if let applicationName { pairs.append(("application_name", applicationName)) }
        pairs.append(("fallback_application_name", Self.defaultApplicationName))
        pairs.append(("connect_timeout", String(connectTimeout)))
        pairs.append(("keepalives", "1"))
        pairs.append(("keepalives_idle", String(keepalivesIdle)))
        pairs.append(("keepalives_interval", String(keepalivesInterval)))
        pairs.append(("keepalives_count", String(keepalivesCount)))
        // Every String this library makes from a result assumes UTF-8.
        pairs.append(("client_encoding", "UTF8"))
        // Dates and timestamps are decoded from their ISO text form, whatever the server's
        // default DateStyle; the caller's own options come after and may add to it.
        let check = connectionCheckInterval.map { "-c client_connection_check_interval=\($0)s" }
        let options = ["-c DateStyle=ISO", check, parameters["options"]].compactMap { $0 }.joined(separator: " ")
        pairs.append(("options", options))
        for key in parameters.keys.sorted() where key != "client_encoding" && key != "options" {
            pairs.append((key, parameters[key]!))
        }
        return pairs
    }

    /// The configuration with the password masked.
    public var description: String {
        var parts: [String] = []
        parts.append("host=\(host ?? "<PGHOST>")")
        parts.append("port=\(port.map(String.init) ?? "<PGPORT>")")
        parts.append("user=\(user ?? "<PGUSER>")")
        parts.append("database=\(database ?? "<PGDATABASE>")")
        if password != nil { parts.append("password=********") }
        if let applicationName { parts.append("application_name=\(applicationName)") }
        for key in parameters.keys.sorted() {
            let value = key.lowercased().contains("password") ? "********" : parameters[key]!
            parts.append("\(key)=\(value)")
        }
        return "PostgresConfiguration(" + parts.joined(separator: " ") + ")"
    }

    private static func invalid(_ reason: String) -> PostgresError {
        PostgresError(kind: .usage, message: "invalid PostgreSQL URL: \(reason)")
    }

    /// Percent-decoding over UTF-8 bytes; a malformed escape is an error, not kept literally.
    /// '+' stays '+' (libpq's own URI parser does not read it as a space either).
    static func decode(_ text: Substring, part: String) throws -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    throw invalid("bad percent-escape in the \(part)")
                }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw invalid("the \(part) is not UTF-8 after percent-decoding")
        }
        return decoded
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
