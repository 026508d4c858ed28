import Foundation
import Logging
import SamparkAMQP
import SamparkCore
import SamparkPostgres
import ServiceLifecycle
import Synchronization

/// Consumes one work queue and gives each delivery Sampark's delivery rules (docs/runtime.md):
///
/// 1. no `message_id`, an unknown `type`, or a body that does not decode → dead-lettered at
///    once with the reason in headers (permanent: retrying cannot help);
/// 2. otherwise one transaction: the message id goes into the inbox (seen before → nothing is
///    done again; a batch handler may keep its own, ``BatchMessageHandler/recordsMessageIDs``),
///    the handler runs, its publishes go into the outbox; commit;
/// 3. ack after the commit, and wake the outbox relay;
/// 4. a transient failure (lost connection, serialization failure, deadlock,
///    `HandlerError.transient`) → a copy goes to the next delay queue and the delivery is
///    acked; after the last delay, dead-lettered;
/// 5. a permanent failure (constraint violation, `HandlerError.permanent`, any other error)
///    → dead-lettered at once.
///
/// At most `concurrency` deliveries are handled at once. On graceful shutdown (SIGTERM) the
/// runner stops taking deliveries, lets those in hand finish and ack, then cancels its
/// consumer so the broker returns what was prefetched but not started.
public final class MessageRunner: Service, Sendable {
    public struct Settings: Sendable {
        public var queue: String
        public var prefetch: UInt16
        public var concurrency: Int
        public var retry: RetryPolicy
        /// The `app_id` of what this worker publishes (its name).
        public var appID: String
        /// Fault injection for tests: the process kills itself (SIGKILL) right after the
        /// N-th commit, before its ack, the worst instant to die. Never set in production
        /// (`SAMPARK_FAULT_KILL_AFTER_COMMIT`).
        public var killAfterCommit: Int?
        /// For batch handlers: at most this many deliveries in one transaction, gathered for
        /// at most `batchWait` after the first.
        public var batchSize: Int
        public var batchWait: Duration
        /// A body larger than this is dead-lettered unread (`SAMPARK_MAX_BODY_BYTES`): no
        /// decoder ever sees a hostile multi-megabyte message.
        public var maxBodyBytes: Int
        /// RabbitMQ users whose messages may speak for any centre, and whose re-published
        /// copies' `x-sampark-sender` header is believed (``Sender``): the operator and the
        /// worker's own user (`SAMPARK_TRUSTED_SENDERS`).
        public var trustedSenders: Set<String>

        public init(queue: String, prefetch: UInt16 = 50, concurrency: Int = 4,
                    retry: RetryPolicy = .default, appID: String, killAfterCommit: Int? = nil,
                    batchSize: Int = 100, batchWait: Duration = .milliseconds(20), maxBodyBytes: Int = 8 << 20,
                    trustedSenders: Set<String> = []) {
            self.trustedSenders = trustedSenders
            self.queue = queue
            self.prefetch = prefetch
            self.concurrency = max(1, concurrency)
            self.retry = retry
            self.appID = appID
            self.killAfterCommit = killAfterCommit
            self.batchSize = max(1, batchSize)
            self.batchWait = batchWait
            self.maxBodyBytes = max(1, maxBodyBytes)
        }
    }

    /// What became of one delivery; for tests and metrics.
    public enum Outcome: String, Sendable {
        case handled, duplicate, retried, deadLettered = "dead_lettered", returned
    }

    /// One delivery's fate, for the metrics hook.
    public struct Observation: Sendable {
        public let outcome: Outcome
        public let messageType: String
        public let duration: Duration
        /// When the message was first published (its AMQP timestamp), for queue lag.
        public let publishedAt: Date?
    }

    public let settings: Settings
    private let handlers: [String: RegisteredHandler]
    private let amqp: AMQPConnection
    private let pool: PostgresPool
    private let relay: OutboxRelay?
    private let logger: Logger
    private let observer: (@Sendable (Observation) -> Void)?
    private let commits = Atomic<Int>(0)

    /// - Parameters:
    ///   - observer: told what became of every delivery (the metrics hook).
    public init(settings: Settings, handlers: [any MessageHandler], batchHandlers: [any BatchMessageHandler] = [],
                amqp: AMQPConnection, pool: PostgresPool, relay: OutboxRelay?, logger: Logger,
                observer: (@Sendable (Observation) -> Void)? = nil) {
        self.settings = settings
        var byType: [String: RegisteredHandler] = [:]
        for registered in handlers.map({ RegisteredHandler($0) }) + batchHandlers.map({ RegisteredHandler(batch: $0) }) {
            precondition(byType[registered.messageType] == nil, "two handlers for \(registered.messageType)")
            byType[registered.messageType] = registered
        }
        self.handlers = byType
        self.amqp = amqp
        self.pool = pool
        self.relay = relay
        var logger = logger
        logger[metadataKey: "queue"] = "\(settings.queue)"
        self.logger = logger
        self.observer = observer
    }

    public func run() async throws {
        let consumer = try await amqp.consume(queue: settings.queue, prefetch: settings.prefetch)
        logger.info("consuming", metadata: ["types": "\(handlers.keys.sorted().joined(separator: ","))"])
        // The reading task is cancelled to stop taking deliveries; the handlers it started are
        // unstructured tasks, so that cancellation does not reach them: they finish and ack.
        let reader = Task { await self.read(consumer) }
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await reader.value
            } onCancel: {
                reader.cancel()
            }
        } onGracefulShutdown: {
            self.logger.info("graceful shutdown: taking no more deliveries; finishing those in hand")
            reader.cancel()
        }
        logger.info("handlers finished; cancelling the consumer")
        // Bounded: if the broker is away the cancel waits for a reconnect, and closing the
        // connection at exit gives the broker back whatever was prefetched anyway.
        let cancelled = Flag()
        Task {
            try? await consumer.cancel()
            cancelled.set()
        }
        for _ in 0..<100 where !cancelled.isSet { try? await Task.sleep(for: .milliseconds(50)) }
        logger.info("stopped consuming")
    }

    private enum Event: Sendable {
        case delivery(Delivery)
        /// The wait for more of the batch opened `generation` is over.
        case flush(generation: Int)
    }

    private func read(_ consumer: AMQPConsumer) async {
        // Deliveries and batch timers in one stream, read in order.
        let (events, eventSink) = AsyncStream<Event>.makeStream()
        let pump = Task {
            do {
                for try await delivery in consumer { eventSink.yield(.delivery(delivery)) }
            } catch {
                self.logger.error("the consumer ended", metadata: ["error": "\(error)"])
            }
            eventSink.finish()
        }
        await withTaskCancellationHandler {
            await withTaskGroup(of: Void.self) { group in
                var running = 0
                var batch: [Delivery] = [], generation = 0
                func start(_ work: @escaping @Sendable () async -> Void) async {
                    if running >= settings.concurrency {
                        await group.next()
                        running -= 1
                    }
                    let handling = Task { await work() }
                    group.addTask { _ = await handling.value }
                    running += 1
                }
                func flush() async {
                    guard !batch.isEmpty else { return }
                    let deliveries = batch
                    batch = []
                    generation += 1
                    await start { await self.process(batch: deliveries) }
                }
                for await event in events {
                    if Task.isCancelled { break }
                    switch event {
                    case .delivery(let delivery):
                        guard let type = delivery.properties.type, handlers[type]?.batch != nil else {
                            await start { await self.process(delivery) }
                            continue
                        }
                        // A batch holds one type: another type's delivery sends the open one.
                        if let first = batch.first, first.properties.type != type { await flush() }
                        batch.append(delivery)
                        if batch.count >= settings.batchSize {
                            await flush()
                        } else if batch.count == 1 {
                            let opened = generation, wait = settings.batchWait
                            Task {
                                try? await Task.sleep(for: wait)
                                eventSink.yield(.flush(generation: opened))
                            }
                        }
                    case .flush(let opened):
                        if opened == generation { await flush() }
                    }
                }
                // Stopping: a batch gathered but not started is left unacked; cancelling the
                // consumer gives it back to the broker, like anything else prefetched.
                await group.waitForAll()
            }
        } onCancel: {
            eventSink.finish()
        }
        pump.cancel()
    }

    // MARK: A batch

    /// Handles a batch of one type in one transaction; if that fails, each on its own.
    private func process(batch deliveries: [Delivery]) async {
        guard deliveries.count > 1, let type = deliveries[0].properties.type, let handler = handlers[type], let batch = handler.batch else {
            for delivery in deliveries { await process(delivery) }
            return
        }
        let start = ContinuousClock.now
        // What cannot be decoded (or has no id) goes on its own, to be dead-lettered.
        var items: [(delivery: Delivery, id: String, item: any Sendable)] = [], alone: [Delivery] = []
        for delivery in deliveries {
            if delivery.body.count <= settings.maxBodyBytes, let id = delivery.properties.messageID, !id.isEmpty,
               let item = try? batch.decode(delivery.body, id, sender(of: delivery)) {
                items.append((delivery, id, item))
            } else {
                alone.append(delivery)
            }
        }
        for delivery in alone { await process(delivery) }
        guard !items.isEmpty else { return }
        let queue = settings.queue, appID = settings.appID, ids = items.map(\.id)
        let itemsByID = Dictionary(items.map { ($0.id, $0.item) }, uniquingKeysWith: { first, _ in first })
        let ownInbox = handler.recordsMessageIDs
        do {
            let handled: (fresh: Set<String>, published: Int, afterCommit: [@Sendable () -> Void]) = try await pool.transaction { connection in
                // A handler that is its own inbox takes every id and drops repeats itself.
                let fresh = ownInbox ? Set(ids) : Set(try connection.query("""
                    INSERT INTO inbox (consumer, message_id) SELECT $1, id FROM unnest($2::text[]) AS id ORDER BY id
                    ON CONFLICT DO NOTHING RETURNING message_id
                    """, [queue, ids], prepared: true).map { try $0.decode(String.self, at: 0) })
                // In delivery order, each id once.
                var seen = Set<String>(), work: [any Sendable] = []
                for id in ids where fresh.contains(id) && seen.insert(id).inserted { work.append(itemsByID[id]!) }
                guard !work.isEmpty else { return ([], 0, []) }
                let context = HandlerContext(connection: connection, messageID: ids[0], messageType: type, correlationID: nil,
                                             replyTo: nil, queue: queue, appID: appID)
                try batch.work(work)(context)
                return (fresh, context.published, context.afterCommit)
            }
            for body in handled.afterCommit { body() }
            if let limit = settings.killAfterCommit, commits.add(1, ordering: .relaxed).newValue >= limit {
                logger.critical("fault injection: killing this process after a commit, before its ack")
                kill(getpid(), SIGKILL)
            }
            for item in items { try item.delivery.ack() }
            if handled.published > 0 { relay?.wake() }
            logger.debug("handled a batch", metadata: ["messages": "\(items.count)", "new": "\(handled.fresh.count)"])
            let duration = ContinuousClock.now - start
            var counted = Set<String>()
            for item in items {
                let new = handled.fresh.contains(item.id) && counted.insert(item.id).inserted
                observer?(Observation(outcome: new ? .handled : .duplicate, messageType: type, duration: duration,
                                      publishedAt: item.delivery.properties.timestamp.map { Date(timeIntervalSince1970: TimeInterval($0)) }))
            }
        } catch let error as AMQPError {
            logger.warning("could not ack a batch after commit; the redeliveries will be recognised", metadata: ["error": "\(error)"])
        } catch {
            // One of them may never succeed: handle each on its own, with the usual retries
            // and dead letters.
            logger.warning("a batch failed; handling its messages one by one", metadata: ["messages": "\(items.count)", "error": "\(error)"])
            for item in items { await process(item.delivery) }
        }
    }

    // MARK: One delivery

    /// Handles one delivery to the end: acked after commit, retried, or dead-lettered.
    @discardableResult
    public func process(_ delivery: Delivery) async -> Outcome {
        let start = ContinuousClock.now
        let type = delivery.properties.type ?? ""
        var logger = self.logger
        logger[metadataKey: "type"] = "\(type)"
        if let id = delivery.properties.messageID { logger[metadataKey: "message_id"] = "\(id)" }
        let outcome = await outcome(of: delivery, type: type, logger: logger)
        observer?(Observation(outcome: outcome, messageType: type, duration: ContinuousClock.now - start,
                              publishedAt: delivery.properties.timestamp.map { Date(timeIntervalSince1970: TimeInterval($0)) }))
        return outcome
    }

    private func outcome(of delivery: Delivery, type: String, logger: Logger) async -> Outcome {
        guard delivery.body.count <= settings.maxBodyBytes else {
            return await deadLetter(delivery, reason: "the body has \(delivery.body.count) bytes, over the limit of \(settings.maxBodyBytes); not read",
                                    logger: logger)
        }
        guard let messageID = delivery.properties.messageID, !messageID.isEmpty else {
            return await deadLetter(delivery, reason: "the message has no message_id", logger: logger)
        }
        guard let handler = handlers[type] else {
            return await deadLetter(delivery, reason: "no handler on \(settings.queue) for message type '\(type)'", logger: logger)
        }
        let work: RegisteredHandler.Work
        do {
            work = try handler.decode(delivery.body)
        } catch {
            return await deadLetter(delivery, reason: "undecodable \(type): \(describeDecodingFailure(error))", logger: logger)
        }

        let queue = settings.queue, appID = settings.appID
        let properties = delivery.properties, sender = sender(of: delivery), ownInbox = handler.recordsMessageIDs
        do {
            let handled: (published: Int, afterCommit: [@Sendable () -> Void])? = try await pool.transaction { connection in
                if !ownInbox {
                    let fresh = try connection.execute(
                        "INSERT INTO inbox (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        [queue, messageID], prepared: true)
                    guard fresh == 1 else { return nil }
                }
                let context = HandlerContext(connection: connection, messageID: messageID, messageType: type,
                                             correlationID: properties.correlationID, replyTo: properties.replyTo,
                                             queue: queue, appID: appID, sender: sender,
                                             purpose: properties.headers[Headers.purpose]?.stringValue)
                try work(context)
                return (context.published, context.afterCommit)
            }
            for body in handled?.afterCommit ?? [] { body() }
            let published = handled?.published
            if let limit = settings.killAfterCommit, commits.add(1, ordering: .relaxed).newValue >= limit {
                logger.critical("fault injection: killing this process after a commit, before its ack")
                kill(getpid(), SIGKILL)
            }
            try delivery.ack()
            guard let published else {
                logger.info("already handled; acked again")
                return .duplicate
            }
            if published > 0 { relay?.wake() }
            logger.debug("handled", metadata: ["published": "\(published)"])
            return .handled
        } catch let error as HandlerError {
            switch error {
            case .permanent(let reason): return await deadLetter(delivery, reason: reason, logger: logger)
            case .transient(let reason): return await retry(delivery, reason: reason, logger: logger)
            }
        } catch let error as PostgresError {
            if error.retryable { return await retry(delivery, reason: error.description, logger: logger) }
            return await deadLetter(delivery, reason: error.description, logger: logger)
        } catch let error as AMQPError {
            // The ack itself failed: the connection is gone and the broker will redeliver;
            // the inbox makes that redelivery a no-op.
            logger.warning("could not ack after commit; the redelivery will be recognised", metadata: ["error": "\(error)"])
            return .returned
        } catch {
            return await deadLetter(delivery, reason: "handler failed: \(error)", logger: logger)
        }
    }

    /// Who sent `delivery` (``Sender``): its verified `user_id`, or, when a trusted user
    /// re-published it, the first sender it names.
    func sender(of delivery: Delivery) -> Sender? {
        guard let user = delivery.properties.userID, !user.isEmpty else { return nil }
        guard settings.trustedSenders.contains(user) else { return Sender(user: user, trusted: false) }
        // A trusted user's copy names its first sender; an empty name: the first named nobody.
        if let first = delivery.properties.headers[Headers.sender]?.stringValue {
            return first.isEmpty ? nil : Sender(user: first, trusted: settings.trustedSenders.contains(first))
        }
        return Sender(user: user, trusted: true)
    }

    /// `delivery`'s properties for a copy this worker publishes (a retry, a dead letter): its
    /// sender moves into a header, since the broker lets a connection claim only its own user.
    private func copyProperties(of delivery: Delivery) -> AMQPProperties {
        var properties = delivery.properties
        // Always written: a header the first sender set itself must not become believable
        // once the copy is the worker's own (trusted) publish.
        properties.headers[Headers.sender] = .string(sender(of: delivery)?.user ?? "")
        properties.userID = nil
        return properties
    }

    private func attempt(of delivery: Delivery) -> Int {
        Int(delivery.properties.headers[Headers.attempt]?.intValue ?? 1)
    }

    /// Sends a copy to the next delay queue (or dead-letters it after the last), then acks.
    private func retry(_ delivery: Delivery, reason: String, logger: Logger) async -> Outcome {
        let attempt = attempt(of: delivery)
        guard attempt < settings.retry.maxAttempts else {
            return await deadLetter(delivery, reason: "gave up after \(attempt) attempts: \(reason)", logger: logger)
        }
        var properties = copyProperties(of: delivery)
        properties.headers[Headers.attempt] = .int(Int64(attempt + 1))
        properties.headers[Headers.lastError] = .string(Headers.clip(reason))
        let copy = OutgoingMessage(exchange: "", routingKey: RetryPolicy.delayQueue(for: settings.queue, retry: attempt),
                                   body: delivery.body, properties: properties)
        do {
            try await amqp.publish(copy)
        } catch {
            return returnToQueue(delivery, because: error, logger: logger)
        }
        settleAfterCopy(delivery, logger: logger)
        logger.warning("will retry", metadata: ["attempt": "\(attempt)", "error": "\(reason)",
                                                "retry_in_ms": "\(settings.retry.milliseconds(beforeRetry: attempt))"])
        return .retried
    }

    /// Publishes a copy with the reason to the dead-letter exchange, then acks.
    private func deadLetter(_ delivery: Delivery, reason: String, logger: Logger) async -> Outcome {
        var properties = copyProperties(of: delivery)
        properties.headers[Headers.reason] = .string(Headers.clip(reason))
        properties.headers[Headers.queue] = .string(settings.queue)
        properties.headers[Headers.attempt] = .int(Int64(attempt(of: delivery)))
        properties.headers[Headers.deadAt] = .int(Int64(Date().timeIntervalSince1970))
        if properties.messageID == nil || properties.messageID?.isEmpty == true {
            properties.messageID = UUID().uuidString.lowercased()
        }
        let copy = OutgoingMessage(exchange: Topology.deadLetterExchange, routingKey: settings.queue,
                                   body: delivery.body, properties: properties)
        do {
            try await amqp.publish(copy)
        } catch {
            return returnToQueue(delivery, because: error, logger: logger)
        }
        await answerRejection(of: delivery, reason: reason, logger: logger)
        settleAfterCopy(delivery, logger: logger)
        logger.error("dead-lettered", metadata: ["reason": "\(reason)"])
        return .deadLettered
    }

    /// A requester waiting on `reply_to` learns at once why its request was refused
    /// (`request.rejected.v1`), instead of waiting out its timeout. Sent after the dead letter
    /// is confirmed and before the ack: if this process dies in between, the redelivery is
    /// dead-lettered and answered again (the requester takes the first answer). Best effort: a
    /// requester that stopped waiting has taken its queue with it, and the dead letter holds
    /// the reason anyway.
    private func answerRejection(of delivery: Delivery, reason: String, logger: Logger) async {
        guard let replyTo = delivery.properties.replyTo, !replyTo.isEmpty else { return }
        let rejection = RequestRejected(requestType: delivery.properties.type ?? "", reason: Headers.clip(reason))
        var properties = AMQPProperties(contentType: MessageCoding.contentType, correlationID: delivery.properties.correlationID,
                                        messageID: "\(delivery.properties.messageID ?? UUID().uuidString.lowercased())/rejected")
        properties.type = RequestRejected.messageType
        properties.appID = settings.appID
        do {
            let answer = OutgoingMessage(exchange: "", routingKey: replyTo, body: try MessageCoding.encode(rejection),
                                         properties: properties, mandatory: false)
            try await amqp.publish(answer)
        } catch {
            logger.warning("could not answer the requester that its request was refused", metadata: ["error": "\(error)"])
        }
    }

    /// Acks a delivery whose copy (retry or dead letter) is confirmed. If the connection was
    /// replaced meanwhile the ack is refused (`staleDelivery`): the broker has requeued the
    /// original and will bring it again, so the copy may exist twice; both carry the same
    /// message id, and the inbox of whatever finally handles it takes it once.
    private func settleAfterCopy(_ delivery: Delivery, logger: Logger) {
        do {
            try delivery.ack()
        } catch {
            logger.warning("the copy is published but the original could not be acked; it will come again",
                           metadata: ["error": "\(error)"])
        }
    }

    /// Neither retry nor dead-letter could be published (the broker is away): give the
    /// delivery back. The queue's delivery limit bounds how often this can happen.
    private func returnToQueue(_ delivery: Delivery, because error: Error, logger: Logger) -> Outcome {
        logger.warning("could not publish a retry or dead letter; returning the message", metadata: ["error": "\(error)"])
        try? delivery.nack(requeue: true)
        return .returned
    }
}

/// The headers Sampark sets on retried and dead-lettered messages.
public enum Headers {
    /// Which attempt this delivery is (1 for the first).
    public static let attempt = "x-sampark-attempt"
    /// Why the previous attempt failed (on retries).
    public static let lastError = "x-sampark-last-error"
    /// Why the message was dead-lettered.
    public static let reason = "x-sampark-reason"
    /// The work queue it was dead-lettered from.
    public static let queue = "x-sampark-queue"
    /// When it was dead-lettered (seconds since 1970).
    public static let deadAt = "x-sampark-dead-at"
    /// On a copy a worker re-published: the RabbitMQ user that sent the message first.
    public static let sender = "x-sampark-sender"
    /// On a request: why it is made (the processing log keeps it).
    public static let purpose = "x-sampark-purpose"

    /// Headers stay small: reasons are cut at 500 characters.
    static func clip(_ text: String) -> String { text.count > 500 ? String(text.prefix(500)) + "…" : text }
}

/// A one-way flag shared between tasks.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
