import Foundation
import SamparkCore
import SamparkPostgres

/// Handles one message type for a worker. The runner gives every handler the same delivery
/// rules (docs/runtime.md): it decodes the body, opens one PostgreSQL transaction, records the
/// message id in the inbox (a message seen before is acked and not handled again), calls
/// `handle`, commits, and only then acks. What the handler publishes goes through the outbox
/// in that same transaction.
///
/// `handle` runs synchronously on a database connection's own thread and may run more than
/// once (a serialization failure or deadlock runs the transaction again), so every effect must
/// go through `context.connection` or `context.publish`.
public protocol MessageHandler: Sendable {
    associatedtype Message: SamparkMessage
    func handle(_ message: Message, context: HandlerContext) throws
}

/// A failure a handler names itself. Database errors need no wrapping: the runner classifies
/// them by SQLSTATE (serialization failures, deadlocks, lost connections are transient;
/// constraint violations are permanent).
public enum HandlerError: Error, Sendable, CustomStringConvertible {
    /// The message can never succeed (an unknown reference, a rule it breaks): dead-letter it
    /// at once with this reason. No personal data in the reason: it goes into a header.
    case permanent(String)
    /// The message may succeed later: retry it through the delay queues.
    case transient(String)

    public var description: String {
        switch self {
        case .permanent(let reason): return reason
        case .transient(let reason): return reason
        }
    }
}

/// What a handler sees besides its message: the transaction's connection, the delivery's
/// identity, and the outbox.
public final class HandlerContext {
    public let connection: PostgresConnection
    public let messageID: String
    public let messageType: String
    public let correlationID: String?
    public let replyTo: String?
    /// The queue the message came from (also the inbox's consumer name).
    public let queue: String
    /// Who sent it, as the broker verified (``Sender``); nil if the message named nobody.
    public let sender: Sender?
    /// Why, as the requester said (`x-sampark-purpose`): for the processing log.
    public let purpose: String?
    let appID: String
    private(set) var published = 0
    private(set) var afterCommit: [@Sendable () -> Void] = []

    init(connection: PostgresConnection, messageID: String, messageType: String, correlationID: String?,
         replyTo: String?, queue: String, appID: String, sender: Sender? = nil, purpose: String? = nil) {
        self.purpose = purpose
        self.connection = connection
        self.messageID = messageID
        self.messageType = messageType
        self.correlationID = correlationID
        self.replyTo = replyTo
        self.queue = queue
        self.appID = appID
        self.sender = sender
    }

    /// Records in the processing log, inside the handler's transaction, that this request's
    /// sender had `action` done on `subject` (never a phone number or a name), and why.
    public func logProcessing(_ action: String, subject: String, detail: String = "{}") throws {
        try connection.execute("""
            INSERT INTO processing_log (action, requested_by, purpose, subject, detail) VALUES ($1, $2, $3, $4, $5::jsonb)
            """, [action, sender?.user ?? "(unnamed sender)", purpose.flatMap { $0.isEmpty ? nil : String($0.prefix(500)) } ?? "(not stated)",
                  subject, PostgresJSONText(detail)], prepared: true)
    }

    /// Records `message` in the outbox, inside the handler's transaction; the outbox relay
    /// publishes it under confirms after the commit. `messageID` defaults to one derived from
    /// this delivery's id and the count of messages published so far, so that running the
    /// handler again (a retried transaction, a redelivery after a crash) publishes the same ids
    /// and consumers' inboxes drop the repeats. `mandatory: false` marks an announcement: an
    /// event nobody may be bound to hear, which is then simply not delivered.
    public func publish<M: SamparkMessage>(_ message: M, exchange: String, routingKey: String,
                                           messageID: String? = nil, correlationID: String? = nil,
                                           replyTo: String? = nil, mandatory: Bool = true) throws {
        published += 1
        let id = messageID ?? "\(self.messageID)/\(published)"
        try Outbox.insert(message, exchange: exchange, routingKey: routingKey, messageID: id,
                          correlationID: correlationID ?? self.correlationID, replyTo: replyTo,
                          appID: appID, mandatory: mandatory, on: connection)
    }
}

extension HandlerContext {
    /// Answers a request on its `reply_to`, if it has one, through the outbox: one reply per
    /// request (its id derived from the request's), not mandatory, since a requester that
    /// stopped waiting has taken its reply queue with it.
    public func reply<M: SamparkMessage>(_ message: M) throws {
        guard let replyTo else { return }
        try publish(message, exchange: "", routingKey: replyTo, messageID: "\(messageID)/reply", mandatory: false)
    }

    /// Counts outbox rows the handler inserted itself, in SQL (the dispatcher builds a
    /// batch of offers in one statement), so the runner wakes the relay after the commit.
    public func didInsertOutboxRows(_ count: Int) { published += count }

    /// Runs `body` once the transaction has committed (not if it rolls back): to wake a
    /// service that must see what the handler wrote.
    public func onCommit(_ body: @escaping @Sendable () -> Void) { afterCommit.append(body) }
}

/// Handles many messages of one type in one transaction (the feedback-aggregator's outcomes):
/// the runner gathers up to `batchSize` deliveries, waiting at most `batchWait` for more,
/// records all their ids in the inbox in one statement (unless the handler records them
/// itself: ``recordsMessageIDs``), hands the handler those not seen before, commits, and only then acks them all (the AMQP client coalesces the acks into one
/// ack-multiple). If a batch fails, each of its messages is handled on its own, so a message
/// that can never succeed is dead-lettered alone and the others are kept.
///
/// As with `MessageHandler`, `handle` runs on a database connection's own thread and may run
/// again (a retried transaction); every effect goes through `context`.
public protocol BatchMessageHandler: Sendable {
    associatedtype Message: SamparkMessage
    func handle(_ batch: [Incoming<Message>], context: HandlerContext) throws

    /// True for a handler that records each message id itself, in the same transaction, in a
    /// table where it is unique, and whose every effect follows only from what it recorded
    /// there for the first time (the aggregator's ledger): such a handler is its own inbox, so
    /// the runner gives it every message and writes no inbox rows, which would only repeat
    /// the ledger's. False by default.
    var recordsMessageIDs: Bool { get }
}

extension BatchMessageHandler {
    public var recordsMessageIDs: Bool { false }
}

/// One message of a batch, with its id (for effects keyed by the message) and its body as
/// it came (already decoded into `message`, so valid for its type): a handler may hand the
/// bodies to SQL as they are instead of encoding the messages again. Empty when a test makes
/// the item from a message alone.
public struct Incoming<Message: Sendable>: Sendable {
    public let message: Message
    public let messageID: String
    public let body: [UInt8]
    /// Who sent it (``Sender``); nil if the message named nobody.
    public let sender: Sender?

    public init(message: Message, messageID: String, body: [UInt8] = [], sender: Sender? = nil) {
        self.message = message
        self.messageID = messageID
        self.body = body
        self.sender = sender
    }
}

/// Who sent a message: its `user_id`, which RabbitMQ verifies against the publishing
/// connection's user, so a call centre cannot speak for another (docs/security.md). A message
/// a worker re-published (a retry through a delay queue) carries its first sender in the
/// `x-sampark-sender` header, believed only when the verified publisher is ``trusted``.
public struct Sender: Sendable, Hashable {
    /// The RabbitMQ user that sent it first.
    public let user: String
    /// One of `SAMPARK_TRUSTED_SENDERS` (the operator, the worker itself): may speak for any
    /// centre (desk-sim, replays of dead letters).
    public let trusted: Bool

    public init(user: String, trusted: Bool) {
        self.user = user
        self.trusted = trusted
    }

    /// Whether this sender may report calls or presence of `centre`: its desks' user
    /// (`centre-<code>`), its gateway's (`centre-<code>-gateway`), or a trusted one.
    public func speaks(forCentre centre: String) -> Bool {
        let own = "centre-" + centre.lowercased()
        return trusted || user == own || user == own + "-gateway"
    }

    /// The reason a handler refuses a message `sender` sent for `centre`, or nil if it may.
    public static func refusal(_ sender: Sender?, forCentre centre: String) -> String? {
        guard let sender else { return "user_id: the message names no sender; a centre's messages must carry its user_id" }
        return sender.speaks(forCentre: centre) ? nil : "user_id: \(sender.user) may not speak for centre \(centre)"
    }
}

/// A handler with its message type erased, as the runner keeps them. `decode` turns a body
/// into the work to run in the transaction, so a body is decoded once, before the transaction
/// opens (an undecodable one is dead-lettered without touching the database).
struct RegisteredHandler: Sendable {
    typealias Work = @Sendable (HandlerContext) throws -> Void
    let messageType: String
    let decode: @Sendable ([UInt8]) throws -> Work
    /// For a batch handler: how a body becomes an item of a batch, and a batch's work.
    let batch: Batch?
    /// The handler keeps its own inbox (``BatchMessageHandler/recordsMessageIDs``).
    let recordsMessageIDs: Bool

    struct Batch: Sendable {
        let decode: @Sendable ([UInt8], String, Sender?) throws -> any Sendable
        let work: @Sendable ([any Sendable]) -> Work
    }

    init<H: MessageHandler>(_ handler: H) {
        messageType = H.Message.messageType
        decode = { body in
            let message = try MessageCoding.decode(H.Message.self, from: body)
            return { context in try handler.handle(message, context: context) }
        }
        batch = nil
        recordsMessageIDs = false
    }

    init<H: BatchMessageHandler>(batch handler: H) {
        messageType = H.Message.messageType
        recordsMessageIDs = handler.recordsMessageIDs
        // On its own (a batch that failed is handled message by message): a batch of one.
        decode = { body in
            let message = try MessageCoding.decode(H.Message.self, from: body)
            return { context in
                try handler.handle([Incoming(message: message, messageID: context.messageID, body: body, sender: context.sender)], context: context)
            }
        }
        batch = Batch(
            decode: { body, id, sender in
                Incoming(message: try MessageCoding.decode(H.Message.self, from: body), messageID: id, body: body, sender: sender)
            },
            work: { items in
                // Every item was made by `decode` above, so each is an Incoming<H.Message>.
                let typed = items.compactMap { $0 as? Incoming<H.Message> }
                return { context in try handler.handle(typed, context: context) }
            })
    }
}
