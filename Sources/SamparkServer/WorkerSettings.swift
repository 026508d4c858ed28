import Foundation
import Logging

/// The settings every Sampark worker process reads from `SAMPARK_*` variables.
///
/// A worker adds its own variables by reading them with the same ``SettingsReader``:
/// ```swift
/// let reader = SettingsReader()
/// let settings = readSettingsOrExit { try WorkerSettings(reader: reader, defaultHTTPPort: 8081) }
/// ```
public struct WorkerSettings: Sendable, Equatable {
    /// The variable names, for workers and docs that need to name them.
    public enum Variable {
        public static let amqpURL = "SAMPARK_AMQP_URL"
        public static let postgresURL = "SAMPARK_POSTGRES_URL"
        public static let httpHost = "SAMPARK_HTTP_HOST"
        public static let httpPort = "SAMPARK_HTTP_PORT"
        public static let prefetch = "SAMPARK_PREFETCH"
        public static let concurrency = "SAMPARK_CONCURRENCY"
        public static let logLevel = "SAMPARK_LOG_LEVEL"
        public static let shutdownTimeout = "SAMPARK_SHUTDOWN_TIMEOUT"
        public static let maxBodyBytes = "SAMPARK_MAX_BODY_BYTES"
        public static let trustedSenders = "SAMPARK_TRUSTED_SENDERS"
    }

    /// The private broker that `scripts/services.sh` starts: development works with no settings.
    public static let defaultAMQPURL = "amqp://sampark:sampark@127.0.0.1:55672/%2f"
    /// The private PostgreSQL that `scripts/services.sh` starts.
    public static let defaultPostgresURL = "postgres://sampark:sampark@127.0.0.1:55432/sampark"
    /// Loopback by default, like Hummingbird: a container must set `SAMPARK_HTTP_HOST=0.0.0.0`.
    public static let defaultHTTPHost = "127.0.0.1"
    public static let defaultPrefetch = 50
    public static let defaultConcurrency = 4
    public static let defaultLogLevel = Logger.Level.info
    public static let defaultShutdownTimeout = Duration.seconds(30)

    public static let httpPortRange = 0...65535
    public static let prefetchRange = 1...10_000
    public static let concurrencyRange = 1...256
    public static let shutdownTimeoutRange = 1.0...600.0

    /// `SAMPARK_AMQP_URL`: `amqp://` or `amqps://`. Contains a password: log ``redactedAMQPURL``.
    public var amqpURL: String
    /// `SAMPARK_POSTGRES_URL`: `postgres://` or `postgresql://`. Log ``redactedPostgresURL``.
    public var postgresURL: String
    /// `SAMPARK_HTTP_HOST`: where `/health/*` and `/metrics` listen.
    public var httpHost: String
    /// `SAMPARK_HTTP_PORT`: 0 asks the kernel for a free port (tests).
    public var httpPort: Int
    /// `SAMPARK_PREFETCH`: unacknowledged deliveries the broker may send ahead (basic.qos).
    public var prefetch: Int
    /// `SAMPARK_CONCURRENCY`: handlers that may run at once.
    public var concurrency: Int
    /// `SAMPARK_LOG_LEVEL`.
    public var logLevel: Logger.Level
    /// `SAMPARK_SHUTDOWN_TIMEOUT`: how long a graceful shutdown may take before the remaining
    /// services are cancelled.
    public var shutdownTimeout: Duration
    /// `SAMPARK_MAX_BODY_BYTES`: a message body larger than this is dead-lettered unread.
    public var maxBodyBytes: Int
    /// `SAMPARK_TRUSTED_SENDERS`: RabbitMQ users (comma-separated) whose messages may speak for
    /// any call centre (the operator replaying dead letters, `sampark desk-sim` as the
    /// development user); every other outcome or presence must come from its centre's own
    /// user. The worker's own user is always trusted (its retries). Default `operator,sampark`.
    public var trustedSenders: Set<String>

    /// Reads every variable; throws ``SettingsError`` for the first bad one.
    ///
    /// - Parameter defaultHTTPPort: each worker has its own port, so several can run on one
    ///   machine without settings.
    public init(reader: SettingsReader = SettingsReader(), defaultHTTPPort: Int, defaultPrefetch: Int = Self.defaultPrefetch) throws {
        amqpURL = try reader.url(Variable.amqpURL, default: Self.defaultAMQPURL, schemes: ["amqp", "amqps"])
        postgresURL = try reader.url(
            Variable.postgresURL, default: Self.defaultPostgresURL, schemes: ["postgres", "postgresql"])
        httpHost = reader.string(Variable.httpHost, default: Self.defaultHTTPHost)
        httpPort = try reader.integer(Variable.httpPort, default: defaultHTTPPort, in: Self.httpPortRange)
        prefetch = try reader.integer(Variable.prefetch, default: defaultPrefetch, in: Self.prefetchRange)
        concurrency = try reader.integer(
            Variable.concurrency, default: Self.defaultConcurrency, in: Self.concurrencyRange)
        logLevel = try reader.choice(Variable.logLevel, default: Self.defaultLogLevel)
        shutdownTimeout = try reader.seconds(
            Variable.shutdownTimeout, default: Self.defaultShutdownTimeout, in: Self.shutdownTimeoutRange)
        // 8 MiB: an ingest batch of 5,000 long rows is well under it.
        maxBodyBytes = try reader.integer(Variable.maxBodyBytes, default: 8 << 20, in: 1024...(256 << 20))
        trustedSenders = Set(reader.string(Variable.trustedSenders, default: "operator,sampark")
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }

    /// ``amqpURL`` with its password masked: safe to log.
    public var redactedAMQPURL: String { Redaction.maskSecrets(variable: Variable.amqpURL, value: amqpURL) }
    /// ``postgresURL`` with its password masked: safe to log.
    public var redactedPostgresURL: String {
        Redaction.maskSecrets(variable: Variable.postgresURL, value: postgresURL)
    }

    /// Every setting as log metadata, URLs masked: logged once at start so an operator sees
    /// what the process actually runs with.
    public var logMetadata: Logger.Metadata {
        [
            "amqp_url": .string(redactedAMQPURL),
            "postgres_url": .string(redactedPostgresURL),
            "http_host": .string(httpHost),
            "http_port": .stringConvertible(httpPort),
            "prefetch": .stringConvertible(prefetch),
            "concurrency": .stringConvertible(concurrency),
            "log_level": .string(logLevel.rawValue),
            "trusted_senders": .string(trustedSenders.sorted().joined(separator: ",")),
            "shutdown_timeout_s": .stringConvertible(Double(shutdownTimeout.components.seconds)
                + Double(shutdownTimeout.components.attoseconds) / 1e18),
        ]
    }
}
