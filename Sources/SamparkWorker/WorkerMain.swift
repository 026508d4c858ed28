import Foundation
import Logging
import Prometheus
import SamparkAMQP
import SamparkPostgres
import SamparkPrivacy
import SamparkRuntime
import SamparkServer
import ServiceLifecycle
import Synchronization

/// What every worker executable does, so its `main.swift` is a few lines:
///
/// 1. read its settings (`SAMPARK_*`; a bad value stops it with a message naming the
///    variable), start JSON logging and the Prometheus registry;
/// 2. connect to RabbitMQ and PostgreSQL (waiting up to a minute for them at start);
/// 3. declare its work queue (with dead-letter and delay queues);
/// 4. run its message runner, the outbox relay, a database probe, any services of its own,
///    and the health server (`/health/live`, `/health/ready`, `/metrics`), until SIGTERM;
///    then drain and exit 0.
public enum WorkerMain {
    public struct Context: Sendable {
        public let amqp: AMQPConnection
        public let pool: PostgresPool
        public let logger: Logger
        /// The relay publishing this worker's outbox: wake it after committing outbox rows
        /// outside a handler.
        public let relay: OutboxRelay
        /// For a worker's own metrics.
        public let registry: PrometheusCollectorRegistry
        /// The phone keys, for the workers started with `usesPhoneKeys` (checked against the
        /// database before anything else runs); nil for the others.
        public let phoneVault: PhoneVault?
    }

    /// A worker's own pieces, made once from its connections: its handlers, and any services
    /// of its own (which its handlers may share).
    public struct Parts {
        public var handlers: [any MessageHandler]
        /// Handlers that take many messages per transaction (`BatchMessageHandler`).
        public var batchHandlers: [any BatchMessageHandler]
        public var services: [any Service]
        public init(handlers: [any MessageHandler] = [], batchHandlers: [any BatchMessageHandler] = [], services: [any Service] = []) {
            self.handlers = handlers
            self.batchHandlers = batchHandlers
            self.services = services
        }
    }

    /// - Parameter sessionSettings: PostgreSQL settings for every session of this worker
    ///   (`-c name=value` in libpq's `options`), for those that can only be set before a
    ///   session first uses them (`temp_buffers`).
    /// - Parameter usesPhoneKeys: the worker hashes, seals or opens phone numbers: it reads
    ///   `SAMPARK_PHONE_KEYS` and `SAMPARK_PHONE_HASH_KEY` and will not start without them, or
    ///   with keys other than those the stored numbers were made with.
    public static func run(
        name: String, defaultHTTPPort: Int, queue: Topology.WorkQueue, sessionSettings: [String: String] = [:],
        usesPhoneKeys: Bool = false,
        defaultPrefetch: Int = WorkerSettings.defaultPrefetch, batchSize: Int = 100,
        parts: @Sendable (Context) -> Parts
    ) async -> Never {
        let settings = readSettingsOrExit { try WorkerSettings(defaultHTTPPort: defaultHTTPPort, defaultPrefetch: defaultPrefetch) }
        SamparkLogging.bootstrap(level: settings.logLevel)
        let registry = SamparkMetrics.bootstrap()
        let logger = Logger(label: "sampark.\(name)")
        let vault = usesPhoneKeys ? readSettingsOrExit { try PhoneVault.fromEnvironment() } : nil

        let amqp: AMQPConnection
        let pool: PostgresPool
        do {
            var amqpConfiguration = try AMQPConfiguration(url: settings.amqpURL)
            amqpConfiguration.connectionName = name
            amqp = try await connectPatiently(what: "RabbitMQ", logger: logger) {
                try await AMQPConnection.connect(amqpConfiguration, logger: logger)
            }
            var pgConfiguration = try PostgresConfiguration(url: settings.postgresURL)
            pgConfiguration.applicationName = name
            // A worker killed mid-transaction (SIGKILL, OOM) must not leave its backend running
            // the statement and holding its locks (a campaign's row, an inbox id) until the
            // statement ends: the redelivered message would wait for them.
            pgConfiguration.connectionCheckInterval = 1
            let options = sessionSettings.sorted { $0.key < $1.key }.map { "-c \($0.key)=\($0.value)" }
            if !options.isEmpty {
                pgConfiguration.parameters["options"] = ([pgConfiguration.parameters["options"]].compactMap { $0 } + options)
                    .joined(separator: " ")
            }
            // One connection per concurrent handler, two for the relay (it claims a batch while
            // it marks the last), one for probes.
            pool = PostgresPool(configuration: pgConfiguration, size: settings.concurrency + 3, logger: logger)
            _ = try await connectPatiently(what: "PostgreSQL", logger: logger) { try await pool.query("SELECT 1") }
            if let vault { try await pool.withConnection { try vault.claim(on: $0) } }
            try await Topology.declare([queue], on: amqp)
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            exit(1)
        }

        let relay = OutboxRelay(settings: .init(appID: name, phoneVault: vault), amqp: amqp, pool: pool, logger: logger)
        let context = Context(amqp: amqp, pool: pool, logger: logger, relay: relay, registry: registry, phoneVault: vault)
        let parts = parts(context)
        let metrics = WorkerMetrics(registry: registry)
        let queueName = queue.name
        let runner = MessageRunner(
            settings: .init(queue: queue.name, prefetch: UInt16(settings.prefetch), concurrency: settings.concurrency, appID: name,
                            killAfterCommit: ProcessInfo.processInfo.environment["SAMPARK_FAULT_KILL_AFTER_COMMIT"].flatMap { Int($0) },
                            batchSize: batchSize, maxBodyBytes: settings.maxBodyBytes,
                            trustedSenders: settings.trustedSenders.union([amqp.user])),
            handlers: parts.handlers, batchHandlers: parts.batchHandlers, amqp: amqp, pool: pool, relay: relay, logger: logger,
            observer: { observation in
                let type = observation.messageType
                metrics.queueLag(queue: queueName, timestamp: observation.publishedAt)
                switch observation.outcome {
                case .handled, .duplicate:
                    metrics.handled(queue: queueName, type: type, duration: observation.duration)
                case .retried:
                    metrics.failed(queue: queueName, type: type, reason: "transient", duration: observation.duration)
                    metrics.retried(queue: queueName, type: type)
                case .deadLettered:
                    metrics.failed(queue: queueName, type: type, reason: "permanent", duration: observation.duration)
                    metrics.deadLettered(queue: queueName, type: type, reason: "permanent")
                case .returned:
                    metrics.failed(queue: queueName, type: type, reason: "returned", duration: observation.duration)
                }
            })
        let probe = DatabaseProbe(pool: pool)
        let health = HealthServer(settings: settings, checks: [
            ReadinessCheck("rabbitmq") { amqp.isConnected },
            ReadinessCheck("postgres") { probe.isReady },
        ], registry: registry, logger: logger)
        // Started in this order, stopped in reverse: the runner stops taking messages first,
        // the relay then publishes what its last handlers wrote.
        await WorkerProcess.runAndExit(name: name, services: [probe, relay] + parts.services + [runner],
                                       health: health, settings: settings, logger: logger)
    }

    /// Retries `connect` for up to a minute (the servers may still be starting).
    static func connectPatiently<T>(what: String, logger: Logger, _ connect: () async throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(60)
        var delay = Duration.milliseconds(250)
        while true {
            do {
                return try await connect()
            } catch {
                guard ContinuousClock.now + delay < deadline else { throw error }
                logger.warning("\(what) not reachable yet; retrying", metadata: ["error": "\(error)"])
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }
}

/// Checks PostgreSQL every two seconds, so `/health/ready` reads a flag instead of running a
/// query per request.
final class DatabaseProbe: Service, Sendable {
    private let pool: PostgresPool
    private let ready = Atomic<Bool>(true)

    init(pool: PostgresPool) { self.pool = pool }

    var isReady: Bool { ready.load(ordering: .relaxed) }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let ok = (try? await self.pool.query("SELECT 1")) != nil
                self.ready.store(ok, ordering: .relaxed)
                try? await Task.sleep(for: .seconds(2))
            }
        }
    }
}
