import ArgumentParser
import Foundation
import Logging
import SamparkAMQP
import SamparkCore
import SamparkPostgres
import SamparkRuntime
import Synchronization

/// `sampark`: the control CLI of a Sampark network.
@main
struct Sampark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sampark",
        abstract: "Control Sampark: migrate the database, declare the broker topology, load files, request lists and reports.",
        subcommands: [Migrate.self, DatabaseLogin.self, Erase.self, Purge.self, RotatePhoneKey.self, TopologyCommand.self, Load.self, MaterialCommand.self, ListCommand.self, ReportCommand.self, DeskSim.self, Generate.self])
}

/// Where the servers are: flags, else SAMPARK_* variables, else the private servers of `make demo`.
struct ServerOptions: ParsableArguments {
    @Option(help: "AMQP URL (default: $SAMPARK_AMQP_URL, else the local demo broker).")
    var amqpURL: String?

    @Option(help: "Why this request is made: the processing log keeps it with who made it (default: $SAMPARK_PURPOSE).")
    var purpose: String?

    var resolvedPurpose: String? { purpose ?? ProcessInfo.processInfo.environment["SAMPARK_PURPOSE"] }

    var resolvedAMQPURL: String {
        amqpURL ?? ProcessInfo.processInfo.environment["SAMPARK_AMQP_URL"] ?? "amqp://sampark:sampark@127.0.0.1:55672/%2f"
    }

    /// Runs `body` with a connection of its own, closed before this returns (`releasing`).
    func withConnection<T>(name: String, _ body: (AMQPConnection) async throws -> T) async throws -> T {
        try await releasing(try await connect(name: name), with: { await $0.close() }, body)
    }

    private func connect(name: String) async throws -> AMQPConnection {
        var configuration = try AMQPConfiguration(url: resolvedAMQPURL)
        configuration.connectionName = "sampark \(name)"
        let amqp = try await AMQPConnection.connect(configuration, logger: cliLogger)
        // What the command publishes to must exist even before any worker has started.
        try await Topology.declareExchanges(on: amqp)
        return amqp
    }
}

/// Where the database is, for the commands that work on it as its owner (migrate, db-login,
/// erase, purge): the flag, else `SAMPARK_POSTGRES_URL`, else the private server of `make demo`.
struct DatabaseOptions: ParsableArguments {
    @Option(help: "PostgreSQL URL of the owner (default: $SAMPARK_POSTGRES_URL, else the local demo database).")
    var postgresURL: String?

    /// Runs `body` with a pool, shut down before this returns (`releasing`).
    func withPool<T>(applicationName: String, _ body: (PostgresPool) async throws -> T) async throws -> T {
        var configuration = try PostgresConfiguration(url: postgresURL ?? ProcessInfo.processInfo.environment["SAMPARK_POSTGRES_URL"]
                                                      ?? "postgres://sampark:sampark@127.0.0.1:55432/sampark")
        configuration.applicationName = applicationName
        return try await releasing(PostgresPool(configuration: configuration, size: 1), with: { await $0.shutdown() }, body)
    }
}

/// Runs `body` with `resource` and releases it before returning, whether `body` returns or
/// throws, so the process never exits while a connection's or a pool's threads still run. A
/// detached release raced the exit's destructors: `db-login` crashed now and then, and over
/// amqps OpenSSL's exit-time cleanup freed what the connection's thread was using ("double
/// free or corruption" in `sampark load`, seen in CI).
func releasing<R, T>(_ resource: R, with release: (R) async -> Void, _ body: (R) async throws -> T) async throws -> T {
    do {
        let value = try await body(resource)
        await release(resource)
        return value
    } catch {
        await release(resource)
        throw error
    }
}

/// The CLI prints for people; library logs go to stderr at warning and above.
let cliLogger: Logger = {
    var logger = Logger(label: "sampark") { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = .warning
    return logger
}()

func say(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

/// A message with every property Sampark sets.
func outgoing<M: SamparkMessage>(_ message: M, exchange: String, routingKey: String, messageID: String = UUID().uuidString.lowercased(),
                                 correlationID: String? = nil, replyTo: String? = nil, purpose: String? = nil) throws -> OutgoingMessage {
    var properties = AMQPProperties(contentType: MessageCoding.contentType, correlationID: correlationID, replyTo: replyTo,
                                    messageID: messageID)
    if let purpose, !purpose.isEmpty { properties.headers[Headers.purpose] = .string(purpose) }
    properties.type = M.messageType
    properties.appID = "sampark-cli"
    return OutgoingMessage(exchange: exchange, routingKey: routingKey, body: try MessageCoding.encode(message), properties: properties)
}

/// A queue of this command's own for the answers to its request (`reply_to`): exclusive, so it
/// goes away with the command.
func replyConsumer(on amqp: AMQPConnection, named queue: String) async throws -> (String?, AMQPConsumer?) {
    try await amqp.declare(QueueDeclaration(name: queue, durable: false, exclusive: true, autoDelete: true))
    return (queue, try await amqp.consume(queue: queue, prefetch: 100))
}

/// Reads deliveries until `body` returns true, or (with `idleSeconds`) until that long passes
/// without one, when the consumer is cancelled; returns whether it ended by going idle.
func readUntilIdle(from consumer: AMQPConsumer, idleSeconds: Double?,
                   _ body: (Delivery) async throws -> Bool) async throws -> Bool {
    let lastSeen = Mutex(ContinuousClock.now)
    let wentIdle = Atomic<Bool>(false)
    let watchdog = Task {
        guard let idleSeconds else { return }
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(200))
            if ContinuousClock.now - lastSeen.withLock({ $0 }) > .milliseconds(Int(idleSeconds * 1000)) {
                wentIdle.store(true, ordering: .relaxed)
                try? await consumer.cancel()
                return
            }
        }
    }
    defer { watchdog.cancel() }
    for try await delivery in consumer {
        lastSeen.withLock { $0 = ContinuousClock.now }
        if try await body(delivery) { return false }
    }
    return wentIdle.load(ordering: .relaxed)
}

/// Reads answers until `body` has what it waited for; throws a clear error if none comes for
/// `seconds` (the worker may be down, or the request dead-lettered).
func awaitAnswers(from consumer: AMQPConsumer, seconds: Double, what: String,
                  _ body: (Delivery) async throws -> Bool) async throws {
    if try await readUntilIdle(from: consumer, idleSeconds: seconds, body) {
        throw ValidationError("no answer about \(what) for \(Int(seconds)) s: is the worker running? (a request it could not take is in its dead-letter queue)")
    }
}
