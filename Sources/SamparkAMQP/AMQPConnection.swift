import Foundation
import Logging
import Synchronization
import CRabbitMQ

/// A connection to RabbitMQ that stays up: it declares topology, publishes under publisher
/// confirms, consumes with prefetch, and recovers by itself from a lost connection.
///
/// rabbitmq-c blocks and is not thread-safe, so each `AMQPConnection` runs its own OS
/// thread (never Swift's cooperative pool), which alone touches the C connection. Async
/// methods queue a command for that thread and suspend until it answers.
///
/// Delivery guarantees:
/// - `publish` returns only when the broker confirmed every message (`basic.ack`); a
///   `basic.nack` or the return of a mandatory message throws. If the connection is lost
///   before the confirm, the message is published again on the next connection, so a
///   consumer may see it twice (consumers dedupe on `message_id`) but never zero times.
/// - While the broker blocks publishers (`connection.blocked`, a memory or disk alarm),
///   publishes wait; they hold only the memory their callers already gave them.
/// - A lost connection (socket error, two missed heartbeats, a broker close) is replaced
///   with exponential backoff; declared topology is replayed and consumers resume.
public final class AMQPConnection: Sendable {
    let core: ConnectionCore

    private init(core: ConnectionCore) {
        self.core = core
    }

    /// Connects, failing if the first attempt fails (so a worker can report itself not
    /// ready); later losses are recovered in the background.
    public static func connect(_ configuration: AMQPConfiguration,
                               logger: Logger = Logger(label: "sampark.amqp")) async throws -> AMQPConnection {
        let core = try ConnectionCore(configuration: configuration, logger: logger)
        let connection = AMQPConnection(core: core)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            core.start(firstConnection: continuation)
        }
        return connection
    }

    public static func connect(url: String, logger: Logger = Logger(label: "sampark.amqp")) async throws -> AMQPConnection {
        try await connect(AMQPConfiguration(url: url), logger: logger)
    }

    deinit {
        core.submit(.close(nil))
    }

    /// The RabbitMQ user it logs in as: the `user_id` of what it publishes.
    public var user: String { core.configuration.user }

    /// True while a connection to the broker is open.
    public var isConnected: Bool { core.status.withLock { $0.connected } }

    /// How many times the connection was re-established after a loss.
    public var reconnectCount: Int { core.status.withLock { $0.reconnects } }

    /// True while the broker blocks our publishes.
    public var isBlocked: Bool { core.status.withLock { $0.blocked } }

    // MARK: Topology

    public func declare(_ exchange: ExchangeDeclaration) async throws {
        _ = try await topology(.exchange(exchange))
    }

    @discardableResult
    public func declare(_ queue: QueueDeclaration) async throws -> QueueInfo {
        guard let info = try await topology(.queue(queue)) else {
            throw AMQPError.library(status: -1, text: "queue.declare returned no queue")
        }
        return info
    }

    public func bind(_ binding: QueueBinding) async throws {
        _ = try await topology(.bind(binding))
    }

    public func unbind(_ binding: QueueBinding) async throws {
        _ = try await topology(.unbind(binding))
    }

    /// Checks that a queue exists (404 `serverRefused` if not) and returns its figures.
    public func inspectQueue(_ name: String) async throws -> QueueInfo {
        guard let info = try await topology(.passiveQueue(name)) else {
            throw AMQPError.library(status: -1, text: "queue.declare returned no queue")
        }
        return info
    }

    /// Checks that an exchange exists (404 `serverRefused` if not).
    public func inspectExchange(_ name: String) async throws {
        _ = try await topology(.passiveExchange(name))
    }

    public func deleteQueue(_ name: String) async throws {
        _ = try await topology(.deleteQueue(name))
    }

    public func deleteExchange(_ name: String) async throws {
        _ = try await topology(.deleteExchange(name))
    }

    public func purgeQueue(_ name: String) async throws {
        _ = try await topology(.purgeQueue(name))
    }

    private func topology(_ operation: TopologyOperation) async throws -> QueueInfo? {
        try await withCheckedThrowingContinuation { continuation in
            core.submit(.topology(operation, continuation))
        }
    }

    // MARK: Publishing

    /// Publishes one message and returns when the broker has confirmed it.
    public func publish(_ message: OutgoingMessage) async throws {
        try await publish([message])
    }

    /// Publishes messages in order and returns when the broker has confirmed all of them.
    /// If any was nacked or returned, throws the first such one's error (in order) once all
    /// are settled.
    public func publish(_ messages: [OutgoingMessage]) async throws {
        if let error = await publishEach(messages).lazy.compactMap({ $0 }).first { throw error }
    }

    /// Publishes messages in order and returns, once the broker has settled every one, each
    /// one's fate in the same order: nil if confirmed, else why not (nacked, returned as
    /// unroutable, the connection closed). The outbox relay learns from it which rows it may
    /// mark published.
    public func publishEach(_ messages: [OutgoingMessage]) async -> [Error?] {
        guard !messages.isEmpty else { return [] }
        return await withCheckedContinuation { (continuation: CheckedContinuation<[Error?], Never>) in
            core.submit(.publish(PublishBatch(messages: messages, continuation: continuation)))
        }
    }

    // MARK: Consuming

    /// Starts a consumer on `queue` with at most `prefetch` unsettled deliveries.
    public func consume(queue: String, prefetch: UInt16 = 100,
                        consumerTag: String = "sampark-\(UUID().uuidString.lowercased())") async throws -> AMQPConsumer {
        let (stream, continuation) = AsyncThrowingStream<Delivery, Error>.makeStream()
        let registration = ConsumerRegistration(queue: queue, prefetch: prefetch, consumerTag: consumerTag,
                                                continuation: continuation)
        try await withCheckedThrowingContinuation { (reply: CheckedContinuation<Void, Error>) in
            core.submit(.consume(registration, reply))
        }
        return AMQPConsumer(queue: queue, consumerTag: consumerTag, stream: stream, connection: self)
    }

    func cancel(consumerTag: String) async throws {
        try await withCheckedThrowingContinuation { (reply: CheckedContinuation<Void, Error>) in
            core.submit(.cancel(consumerTag: consumerTag, reply))
        }
    }

    // MARK: Closing

    /// Closes the connection: unsent publishes fail with `closed`, consumers finish.
    public func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            core.submit(.close(continuation))
        }
    }
}

/// A group of messages published together, answered once all are confirmed.
///
/// @unchecked Sendable: created by the caller, then read and written only on the
/// connection's thread.
final class PublishBatch: @unchecked Sendable {
    let messages: [OutgoingMessage]
    private var remaining: Int
    /// Each message's fate, by index: nil until it failed.
    private var fates: [Error?]
    private var continuation: CheckedContinuation<[Error?], Never>?

    init(messages: [OutgoingMessage], continuation: CheckedContinuation<[Error?], Never>?) {
        self.messages = messages
        self.remaining = messages.count
        self.fates = Array(repeating: nil, count: messages.count)
        self.continuation = continuation
    }

    /// The message at `index` was confirmed (nil) or failed; called once per message, on the
    /// connection's thread.
    func settle(_ error: Error?, at index: Int) {
        if let error { fates[index] = error }
        remaining -= 1
        if remaining == 0, let continuation {
            self.continuation = nil
            continuation.resume(returning: fates)
        }
    }
}

struct ConsumerRegistration: Sendable {
    let queue: String
    let prefetch: UInt16
    let consumerTag: String
    let continuation: AsyncThrowingStream<Delivery, Error>.Continuation
}

enum Command: Sendable {
    case topology(TopologyOperation, CheckedContinuation<QueueInfo?, Error>)
    case publish(PublishBatch)
    case consume(ConsumerRegistration, CheckedContinuation<Void, Error>)
    case cancel(consumerTag: String, CheckedContinuation<Void, Error>)
    case settle(Settlement, consumerTag: String, tag: UInt64, incarnation: UInt64)
    case close(CheckedContinuation<Void, Never>?)
}

/// What callers and the connection's thread share, under one lock: the command queue, the
/// wake-up bookkeeping and the status figures.
struct SharedState: ~Copyable {
    var commands: [Command] = []
    /// The loop is (about to be) asleep in poll(); a new command must write the eventfd.
    var sleeping = false
    var closed = false
    /// Per consumer tag, the channel opening its deliveries must come from to be settled.
    var incarnations: [String: UInt64] = [:]
}

struct ConnectionStatus: Sendable {
    var connected = false
    var reconnects = 0
    var blocked = false
}

/// The part of a connection both sides hold: the command queue and the wake-up eventfd.
final class ConnectionCore: Sendable, DeliverySettler {
    let shared = Mutex(SharedState())
    let status = Mutex(ConnectionStatus())
    /// Written by callers to wake the connection's thread from poll(); closed by the loop
    /// when it exits.
    let wakeDescriptor: Int32
    let configuration: AMQPConfiguration
    let logger: Logger

    init(configuration: AMQPConfiguration, logger: Logger) throws {
        let descriptor = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard descriptor >= 0 else {
            throw AMQPError.connectionFailed(reason: "eventfd failed: errno \(errno)")
        }
        self.wakeDescriptor = descriptor
        self.configuration = configuration
        self.logger = logger
    }

    func start(firstConnection: CheckedContinuation<Void, Error>) {
        let loop = ConnectionLoop(core: self, firstConnection: firstConnection)
        let thread = Thread { loop.run() }
        thread.name = "amqp:\(configuration.connectionName)"
        thread.start()
    }

    func submit(_ command: Command) {
        let (accepted, wake): (Bool, Bool) = shared.withLock { state in
            if state.closed { return (false, false) }
            state.commands.append(command)
            let wake = state.sleeping
            state.sleeping = false
            return (true, wake)
        }
        if !accepted { Self.refuse(command); return }
        if wake { wakeUp() }
    }

    func wakeUp() {
        var one: UInt64 = 1
        _ = write(wakeDescriptor, &one, 8)
    }

    /// Answers a command that arrived after close.
    static func refuse(_ command: Command) {
        switch command {
        case .topology(_, let c): c.resume(throwing: AMQPError.closed)
        case .publish(let batch): for index in batch.messages.indices { batch.settle(AMQPError.closed, at: index) }
        case .consume(let registration, let c):
            registration.continuation.finish()
            c.resume(throwing: AMQPError.closed)
        case .cancel(_, let c): c.resume(throwing: AMQPError.closed)
        case .settle: break
        case .close(let c): c?.resume()
        }
    }

    func settle(_ settlement: Settlement, tag: UInt64, consumerTag: String, incarnation: UInt64) throws {
        let (error, wake): (AMQPError?, Bool) = shared.withLock { state in
            if state.closed { return (.closed, false) }
            guard state.incarnations[consumerTag] == incarnation else { return (.staleDelivery, false) }
            state.commands.append(.settle(settlement, consumerTag: consumerTag, tag: tag, incarnation: incarnation))
            let wake = state.sleeping
            state.sleeping = false
            return (nil, wake)
        }
        if let error { throw error }
        if wake { wakeUp() }
    }
}
