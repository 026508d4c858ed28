import Foundation
import Logging
import SamparkAMQP
import SamparkCore
import SamparkPostgres
import SamparkRuntime
import SamparkSchema
import SamparkTestSupport
import Synchronization

/// The test message: what the handler should do is in the body.
struct Ping: SamparkMessage, Equatable {
    static let messageType = "test.ping.v1"
    var n: Int
    /// "ok", "permanent", "transient:<k>" (fail the first k attempts), "always-transient",
    /// "publish" (publish a Pong to the test's reply queue), "constraint" (violate a CHECK).
    var mode: String
}

struct Pong: SamparkMessage, Equatable {
    static let messageType = "test.pong.v1"
    var n: Int
}

/// A message handled in batches: `mode` "ok" or "permanent" (the whole batch fails on it).
struct Tally: SamparkMessage, Equatable {
    static let messageType = "test.tally.v1"
    var n: Int
    var mode: String
}

/// How many messages each batch transaction that committed held.
final class BatchLog: Sendable {
    private let sizes = Mutex<[Int]>([])
    func append(_ size: Int) { sizes.withLock { $0.append(size) } }
    var all: [Int] { sizes.withLock { $0 } }
}

struct TallyBatchHandler: BatchMessageHandler {
    let log: BatchLog

    func handle(_ batch: [Incoming<Tally>], context: HandlerContext) throws {
        if batch.contains(where: { $0.message.mode == "permanent" }) {
            throw HandlerError.permanent("tally can never succeed")
        }
        // Set-based, as the aggregator does: one statement for the whole batch.
        try context.connection.execute("""
            INSERT INTO runtime_effects (message_id, n) SELECT * FROM unnest($1::text[], $2::int[])
            """, [batch.map(\.messageID), batch.map(\.message.n)])
        let size = batch.count
        context.onCommit { [log] in log.append(size) }
    }
}

/// What the runner did with each delivery, in order.
final class OutcomeLog: Sendable {
    private let items = Mutex<[MessageRunner.Outcome]>([])
    func append(_ outcome: MessageRunner.Outcome) { items.withLock { $0.append(outcome) } }
    func count(_ outcome: MessageRunner.Outcome) -> Int { items.withLock { $0.filter { $0 == outcome }.count } }
}

/// Counts attempts per n across retries (the database cannot: failed transactions roll back).
final class AttemptCounter: Sendable {
    private let counts = Mutex<[Int: Int]>([:])
    func next(_ n: Int) -> Int { counts.withLock { $0[n, default: 0] += 1; return $0[n]! } }
    func count(_ n: Int) -> Int { counts.withLock { $0[n, default: 0] } }
}

/// The sender each attempt saw, per n.
final class SenderLog: Sendable {
    private let seen = Mutex<[Int: [Sender?]]>([:])
    func append(_ n: Int, _ sender: Sender?) { seen.withLock { $0[n, default: []].append(sender) } }
    func of(_ n: Int) -> [Sender?] { seen.withLock { $0[n, default: []] } }
}

struct PingHandler: MessageHandler {
    let attempts: AttemptCounter
    let replyQueue: String
    let senders: SenderLog

    func handle(_ message: Ping, context: HandlerContext) throws {
        let attempt = attempts.next(message.n)
        senders.append(message.n, context.sender)
        try context.connection.execute("INSERT INTO runtime_effects (message_id, n) VALUES ($1, $2)", [context.messageID, message.n])
        switch message.mode {
        case "permanent":
            throw HandlerError.permanent("ping \(message.n) can never succeed")
        case let mode where mode.hasPrefix("transient:"):
            if attempt <= Int(mode.dropFirst("transient:".count))! { throw HandlerError.transient("not yet (attempt \(attempt))") }
        case "always-transient":
            throw HandlerError.transient("never works")
        case "publish":
            try context.publish(Pong(n: message.n), exchange: "", routingKey: replyQueue)
        case "publish-nowhere":
            try context.publish(Pong(n: message.n), exchange: "", routingKey: "no-queue-\(replyQueue)")
        case "constraint":
            try context.connection.execute("INSERT INTO runtime_effects (message_id, n) VALUES ($1, -1)", [context.messageID + "-bad"])
        default:
            break
        }
    }
}

/// A fresh database with Sampark's schema, a work queue of its own with fast retries, a
/// runner and a relay; torn down afterwards.
final class RuntimeFixture: Sendable {
    let database: PostgresConfiguration
    let pool: PostgresPool
    let amqp: AMQPConnection
    let queue: Topology.WorkQueue
    let replyQueue: String
    let attempts = AttemptCounter()
    let senders = SenderLog()
    let retry = RetryPolicy(delays: [.milliseconds(100), .milliseconds(200), .milliseconds(300)])
    let relay: OutboxRelay
    let runner: MessageRunner
    let outcomes = OutcomeLog()
    let batches = BatchLog()

    /// The runner's own RabbitMQ user (the test broker's), trusted as a worker trusts its own.
    static let ownUser = "sampark"

    /// Bodies over this are dead-lettered unread (small here, so a test can send one over it).
    static let maxBodyBytes = 64 << 10

    static func make() async throws -> RuntimeFixture {
        let database = try await TestDatabase.create("rt")
        let pool = PostgresPool(configuration: database, size: 4)
        try await Migrator(pool: pool).migrate()
        try await pool.execute("""
            CREATE TABLE runtime_effects (message_id text PRIMARY KEY, n int NOT NULL CHECK (n >= 0))
            """)
        let amqp = try await AMQPConnection.connect(url: try TestEnvironment.amqpURL())
        return try await RuntimeFixture(database: database, pool: pool, amqp: amqp)
    }

    private init(database: PostgresConfiguration, pool: PostgresPool, amqp: AMQPConnection) async throws {
        self.database = database
        self.pool = pool
        self.amqp = amqp
        queue = Topology.WorkQueue(name: TestEnvironment.uniqueName("rt.work"), bindings: [])
        replyQueue = TestEnvironment.uniqueName("rt.reply")
        try await Topology.declare([queue], retry: retry, on: amqp)
        try await amqp.declare(QueueDeclaration.quorum(replyQueue))
        var logger = Logger(label: "runtime-test")
        logger.logLevel = .warning
        relay = OutboxRelay(settings: .init(batchSize: 100, pollInterval: .milliseconds(200)), amqp: amqp, pool: pool, logger: logger)
        let outcomes = self.outcomes
        runner = MessageRunner(settings: .init(queue: queue.name, prefetch: 100, concurrency: 4, retry: retry, appID: "runtime-test",
                                               batchSize: 40, batchWait: .milliseconds(30), maxBodyBytes: Self.maxBodyBytes,
                                               trustedSenders: [Self.ownUser]),
                               handlers: [PingHandler(attempts: attempts, replyQueue: replyQueue, senders: senders)],
                               batchHandlers: [TallyBatchHandler(log: batches)],
                               amqp: amqp, pool: pool, relay: relay, logger: logger,
                               observer: { outcomes.append($0.outcome) })
    }

    /// Publishes pings straight to the work queue.
    func send(_ pings: [Ping], messageID: (Ping) -> String = { "ping-\($0.n)" }, type: String = Ping.messageType,
              headers: [String: AMQPFieldValue] = [:], userID: String? = nil) async throws {
        try await amqp.publish(try pings.map { ping in
            var properties = AMQPProperties(contentType: "application/json", messageID: messageID(ping))
            properties.type = type
            properties.headers = headers
            properties.userID = userID
            return OutgoingMessage(exchange: "", routingKey: queue.name, body: try MessageCoding.encode(ping), properties: properties)
        })
    }

    /// Publishes tallies straight to the work queue.
    func send(tallies: [Tally], messageID: (Tally) -> String = { "tally-\($0.n)" }) async throws {
        try await amqp.publish(try tallies.map { tally in
            var properties = AMQPProperties(contentType: "application/json", messageID: messageID(tally))
            properties.type = Tally.messageType
            return OutgoingMessage(exchange: "", routingKey: queue.name, body: try MessageCoding.encode(tally), properties: properties)
        })
    }

    func effects() async throws -> [String] {
        try await pool.query("SELECT message_id FROM runtime_effects ORDER BY message_id").map { try $0.decode(String.self, at: 0) }
    }

    func count(_ outcome: MessageRunner.Outcome) -> Int { outcomes.count(outcome) }

    /// Reads up to `count` messages from `queue` (acking them), waiting at most `timeout`.
    func take(_ count: Int, from queue: String, timeout: Duration = .seconds(20)) async throws -> [Delivery] {
        let consumer = try await amqp.consume(queue: queue, prefetch: 50)
        let collected = Mutex<[Delivery]>([])
        let reading = Task {
            for try await delivery in consumer {
                try delivery.ack()
                let total = collected.withLock { $0.append(delivery); return $0.count }
                if total >= count { break }
            }
        }
        let deadline = ContinuousClock.now + timeout
        while collected.withLock({ $0.count }) < count && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        reading.cancel()
        try? await consumer.cancel()
        return collected.withLock { $0 }
    }

    /// Runs `body` with a fresh fixture, torn down afterwards whether `body` passes or throws.
    static func with(_ body: (RuntimeFixture) async throws -> Void) async throws {
        let fixture = try await make()
        do {
            try await body(fixture)
        } catch {
            await fixture.tearDown()
            throw error
        }
        await fixture.tearDown()
    }

    func tearDown() async {
        for name in [queue.name, queue.deadQueue, replyQueue] + (1...retry.delays.count).map({ RetryPolicy.delayQueue(for: queue.name, retry: $0) }) {
            try? await amqp.deleteQueue(name)
        }
        await amqp.close()
        await pool.shutdown()
        await TestDatabase.drop(database)
    }
}

