import Foundation

/// Where and how to connect to RabbitMQ.
///
/// Built from a URL, `amqp://user:pass@host:port/vhost` or `amqps://...` (TLS). The vhost is
/// the percent-decoded path (`/%2f` is the default vhost `/`; an empty path means `/` too).
/// Query parameters: `heartbeat` (seconds), `connection_name`, `cacertfile` (PEM of the CA
/// that signs the broker's certificate), `certfile`/`keyfile` (client certificate),
/// `verify=verify_none` (turns peer verification off: for tests only, never the default).
public struct AMQPConfiguration: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var virtualHost: String
    public var user: String
    public var password: String
    /// Non-nil for `amqps://`: the connection is made through rabbitmq-c's SSL socket.
    public var tls: TLS?
    /// Heartbeat interval proposed to the broker, in seconds. A lost peer is noticed after
    /// two intervals without a byte from it.
    public var heartbeat: Int
    /// Shown in the broker's management UI and `rabbitmqctl list_connections`.
    public var connectionName: String
    /// Backoff between reconnection attempts after a lost connection.
    public var reconnectBackoff: Backoff
    /// Largest frame we accept; the broker may lower it.
    public var frameMax: Int

    /// TLS settings. Peer and hostname verification are on unless turned off explicitly.
    public struct TLS: Sendable {
        public var caCertificatePath: String?
        public var clientCertificatePath: String?
        public var clientKeyPath: String?
        public var verifyPeer: Bool
        public var verifyHostname: Bool

        public init(caCertificatePath: String? = nil, clientCertificatePath: String? = nil,
                    clientKeyPath: String? = nil, verifyPeer: Bool = true, verifyHostname: Bool = true) {
            self.caCertificatePath = caCertificatePath
            self.clientCertificatePath = clientCertificatePath
            self.clientKeyPath = clientKeyPath
            self.verifyPeer = verifyPeer
            self.verifyHostname = verifyHostname
        }
    }

    public init(host: String = "127.0.0.1", port: Int? = nil, virtualHost: String = "/",
                user: String = "guest", password: String = "guest", tls: TLS? = nil,
                heartbeat: Int = 30, connectionName: String = "sampark",
                reconnectBackoff: Backoff = Backoff(), frameMax: Int = 131_072) {
        self.host = host
        self.port = port ?? (tls == nil ? 5672 : 5671)
        self.virtualHost = virtualHost
        self.user = user
        self.password = password
        self.tls = tls
        self.heartbeat = heartbeat
        self.connectionName = connectionName
        self.reconnectBackoff = reconnectBackoff
        self.frameMax = frameMax
    }

    /// Parses an `amqp://` or `amqps://` URL. Errors name what is wrong, never the password.
    public init(url string: String) throws {
        guard let components = URLComponents(string: string), let scheme = components.scheme?.lowercased() else {
            throw AMQPError.invalidURL(reason: "not a URL of the form amqp://user:pass@host:port/vhost")
        }
        let secure: Bool
        switch scheme {
        case "amqp": secure = false
        case "amqps": secure = true
        default: throw AMQPError.invalidURL(reason: "scheme must be amqp or amqps, not \(scheme)")
        }
        guard let host = components.host, !host.isEmpty else {
            throw AMQPError.invalidURL(reason: "the host is missing")
        }
        var vhost = components.percentEncodedPath
        if vhost.hasPrefix("/") { vhost.removeFirst() }
        vhost = vhost.removingPercentEncoding ?? vhost
        if vhost.isEmpty { vhost = "/" }

        var tls: TLS? = secure ? TLS() : nil
        var heartbeat = 30
        var name = "sampark"
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "heartbeat":
                guard let seconds = Int(value), seconds >= 0, seconds <= 3600 else {
                    throw AMQPError.invalidURL(reason: "heartbeat must be a whole number of seconds from 0 to 3600")
                }
                heartbeat = seconds
            case "connection_name": name = value
            case "cacertfile": tls?.caCertificatePath = value
            case "certfile": tls?.clientCertificatePath = value
            case "keyfile": tls?.clientKeyPath = value
            case "verify":
                if value == "verify_none" { tls?.verifyPeer = false; tls?.verifyHostname = false }
            default:
                throw AMQPError.invalidURL(reason: "unknown query parameter \(item.name)")
            }
        }
        self.init(host: host, port: components.port, virtualHost: vhost,
                  user: components.user?.removingPercentEncoding ?? "guest",
                  password: components.password?.removingPercentEncoding ?? "guest",
                  tls: tls, heartbeat: heartbeat, connectionName: name)
    }

    /// The URL with the password masked: safe to log.
    public var description: String {
        let scheme = tls == nil ? "amqp" : "amqps"
        let vhost = virtualHost.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? virtualHost
        return "\(scheme)://\(user):***@\(host):\(port)/\(vhost)"
    }
}

/// Exponential backoff with full jitter, capped. Pure: the caller supplies the randomness
/// source in tests.
public struct Backoff: Sendable, Equatable {
    public var initial: Double
    public var maximum: Double
    public var multiplier: Double

    public init(initial: Double = 0.05, maximum: Double = 5, multiplier: Double = 2) {
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
    }

    /// The upper bound of the delay before attempt `attempt` (0-based).
    public func ceiling(attempt: Int) -> Double {
        let exponent = Double(min(attempt, 62))
        return min(maximum, initial * pow(multiplier, exponent))
    }

    /// A delay drawn uniformly from the upper half of the ceiling, so attempts spread out
    /// without ever collapsing to zero.
    public func delay<R: RandomNumberGenerator>(attempt: Int, using generator: inout R) -> Double {
        let ceiling = ceiling(attempt: attempt)
        return Double.random(in: (ceiling / 2)...ceiling, using: &generator)
    }

    public func delay(attempt: Int) -> Double {
        var generator = SystemRandomNumberGenerator()
        return delay(attempt: attempt, using: &generator)
    }
}
