import Foundation
import Logging
import SamparkAMQP
import SamparkPostgres
import SamparkPrivacy
import ServiceLifecycle
import Synchronization

/// Publishes committed outbox rows under publisher confirms and marks them published. Rows are
/// claimed oldest first and published together, so their order on the broker is not promised.
///
/// Any number of relays may run (one per worker process): each claims a batch with
/// `FOR UPDATE SKIP LOCKED` and a lease (`claimed_until`), so two relays do not publish the
/// same rows, and rows claimed by a relay that died are taken over when the lease ends. A row
/// is marked published only after the broker confirmed it; a relay killed in between
/// publishes it again, and the consumer's inbox drops the repeat. A message the broker
/// returns as unroutable, or one whose sealed number does not open, is dead-lettered with the
/// reason (routing key `outbox.unroutable`) rather than retried forever or left to hold up
/// the rows behind it.
public final class OutboxRelay: Service, Sendable {
    public struct Settings: Sendable {
        public var batchSize: Int
        /// How often to look for rows when nobody woke the relay (rows from other processes,
        /// or left by a relay that died).
        public var pollInterval: Duration
        public var lease: Duration
        /// Published outbox rows are deleted after this long (kept a while for inspection).
        public var keepPublished: Duration
        /// Inbox rows are deleted after this long. It must outlast any redelivery: a message
        /// comes back within its queue's delivery limit and retry delays (minutes), or after an
        /// outage; a week covers both with room to spare.
        public var keepInbox: Duration
        /// How often the relay deletes what is past keeping.
        public var cleanUpInterval: Duration
        /// Only rows this worker wrote (their `app_id`): each worker publishes as its own
        /// RabbitMQ user, whose permissions cover what it publishes and nothing another worker
        /// does (docs/security.md). Nil: every row (tests, tools with one user).
        public var appID: String?
        /// Opens the numbers written sealed beside a body (`outbox.phone_sealed`: a gateway's
        /// offer, which carries a full number) just before they are published. Nil: such a row
        /// fails the batch.
        public var phoneVault: PhoneVault?
        /// Batches in flight at once while rows are waiting: the next batch is claimed while
        /// the last is with the broker, so neither the database nor the broker waits for the
        /// other (one at a time, each batch's claim, confirms and marking took turns).
        public var batchesInFlight: Int

        public init(batchSize: Int = 500, pollInterval: Duration = .seconds(1), lease: Duration = .seconds(30),
                    keepPublished: Duration = .seconds(3600), keepInbox: Duration = .seconds(7 * 24 * 3600),
                    cleanUpInterval: Duration = .seconds(300), appID: String? = nil, phoneVault: PhoneVault? = nil,
                    batchesInFlight: Int = 2) {
            self.appID = appID
            self.phoneVault = phoneVault
            self.batchesInFlight = max(1, batchesInFlight)
            self.batchSize = batchSize
            self.pollInterval = pollInterval
            self.lease = lease
            self.keepPublished = keepPublished
            self.keepInbox = keepInbox
            self.cleanUpInterval = cleanUpInterval
        }
    }

    private let settings: Settings
    private let amqp: AMQPConnection
    private let pool: PostgresPool
    private let logger: Logger
    private let relayID = UUID().uuidString.lowercased()
    private let signal = WakeSignal()

    public init(settings: Settings = Settings(), amqp: AMQPConnection, pool: PostgresPool, logger: Logger) {
        self.settings = settings
        self.amqp = amqp
        self.pool = pool
        self.logger = logger
    }

    /// Asks the relay to look now (a handler just committed outbox rows).
    public func wake() { signal.wake() }

    public func run() async throws {
        let stopping = Flag()
        await withGracefulShutdownHandler {
            var nextCleanUp = ContinuousClock.now + self.settings.cleanUpInterval
            while !stopping.isSet && !Task.isCancelled {
                if ContinuousClock.now >= nextCleanUp {
                    nextCleanUp = ContinuousClock.now + self.settings.cleanUpInterval
                    do {
                        try await self.cleanUp()
                    } catch {
                        self.logger.warning("outbox and inbox clean-up failed; trying again later", metadata: ["error": "\(error)"])
                    }
                }
                var relayed = 0
                do {
                    relayed = try await self.relayWaiting()
                } catch {
                    self.logger.warning("outbox relay failed; trying again", metadata: ["error": "\(error)"])
                }
                if relayed == 0 { await self.sleep() }
            }
        } onGracefulShutdown: {
            stopping.set()
            self.wake()
        }
        // The runner stopped first (it is shut down before the relay): publish what its last
        // handlers committed, until nothing is left or the shutdown bound cancels us.
        while !Task.isCancelled, let relayed = try? await relayWaiting(), relayed > 0 {}
    }

    private func sleep() async { await signal.sleep(upTo: settings.pollInterval) }

    /// Deletes published outbox rows and inbox rows past keeping, a bounded batch at a time so
    /// no statement holds locks for long; returns how many rows of each went.
    @discardableResult
    public func cleanUp() async throws -> (outbox: Int, inbox: Int) {
        func seconds(_ duration: Duration) -> Double { Double(duration.components.seconds) }
        var outbox = 0, inbox = 0
        while true {
            let deleted = try await pool.execute("""
                DELETE FROM outbox WHERE id IN (
                    SELECT id FROM outbox WHERE published_at < now() - make_interval(secs => $1) LIMIT 5000)
                """, [seconds(settings.keepPublished)], prepared: true)
            outbox += deleted
            if deleted < 5000 { break }
        }
        while true {
            let deleted = try await pool.execute("""
                DELETE FROM inbox WHERE (consumer, message_id) IN (
                    SELECT consumer, message_id FROM inbox WHERE received_at < now() - make_interval(secs => $1) LIMIT 5000)
                """, [seconds(settings.keepInbox)], prepared: true)
            inbox += deleted
            if deleted < 5000 { break }
        }
        if outbox + inbox > 0 {
            logger.info("cleaned up", metadata: ["outbox_rows": "\(outbox)", "inbox_rows": "\(inbox)"])
        }
        return (outbox, inbox)
    }

    struct Row: Sendable {
        let id: Int64
        let message: OutgoingMessage
        /// Why the message cannot go out as written (its sealed number does not open): it is
        /// dead-lettered instead.
        var unpublishable: String? = nil
    }

    /// Relays batch after batch, up to `batchesInFlight` at once, until a claim comes back
    /// short (nothing more is waiting); returns how many rows were published. A failed batch
    /// ends the run with its error once the others in flight have settled; its unpublished
    /// rows keep their lease and are tried again when it ends.
    @discardableResult
    public func relayWaiting() async throws -> Int {
        try await withThrowingTaskGroup(of: Int.self) { group in
            var inFlight = 0, published = 0
            while true {
                let rows = try await claim()
                if !rows.isEmpty {
                    group.addTask { try await self.publishAndMark(rows) }
                    inFlight += 1
                }
                if inFlight > 0 && (inFlight >= settings.batchesInFlight || rows.count < settings.batchSize) {
                    published += try await group.next() ?? 0
                    inFlight -= 1
                }
                if rows.count < settings.batchSize { break }
            }
            while let n = try await group.next() { published += n }
            return published
        }
    }

    /// Claims a batch: leases the oldest unpublished rows (of this worker) to this relay.
    private func claim() async throws -> [Row] {
        let leaseSeconds = Double(settings.lease.components.seconds)
        let batch = settings.batchSize
        let relayID = relayID, appID = settings.appID, vault = settings.phoneVault
        let rows: [Row] = try await pool.transaction { connection in
            try connection.query("""
                UPDATE outbox SET claimed_until = now() + make_interval(secs => $1), claimed_by = $2
                WHERE id IN (
                    SELECT id FROM outbox
                    WHERE published_at IS NULL AND (claimed_until IS NULL OR claimed_until < now())
                      AND ($4::text IS NULL OR app_id = $4::text)
                    ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
                RETURNING id, exchange, routing_key, message_id, type, app_id, body, correlation_id,
                          reply_to, mandatory, extract(epoch FROM created_at)::bigint AS created, phone_sealed
                """, [leaseSeconds, relayID, batch, appID], prepared: true).map { row in
                var properties = AMQPProperties(contentType: "application/json")
                properties.messageID = try row.decode(String.self, column: "message_id")
                properties.type = try row.decode(String.self, column: "type")
                properties.appID = try row.decode(String?.self, column: "app_id")
                properties.correlationID = try row.decode(String?.self, column: "correlation_id")
                properties.replyTo = try row.decode(String?.self, column: "reply_to")
                properties.timestamp = UInt64(try row.decode(Int64.self, column: "created"))
                var body = [UInt8](try row.decode(Data.self, column: "body"))
                // A number that does not open (no keys, another key, a changed value) makes
                // that message unpublishable, not the batch: it is dead-lettered as stored,
                // and the rows behind it go on.
                var unpublishable: String?
                if let phone = try row.decode(Data?.self, column: "phone_sealed") {
                    do {
                        guard let vault else { throw PhoneVault.Failure("it holds a sealed number and this relay has no phone keys") }
                        body = try Self.body(body, withPhone: try vault.open([UInt8](phone)))
                    } catch {
                        unpublishable = "cannot be published: \(error)"
                    }
                }
                let message = OutgoingMessage(exchange: try row.decode(String.self, column: "exchange"),
                                              routingKey: try row.decode(String.self, column: "routing_key"),
                                              body: body,
                                              properties: properties,
                                              mandatory: try row.decode(Bool.self, column: "mandatory"))
                return Row(id: try row.decode(Int64.self, column: "id"), message: message, unpublishable: unpublishable)
            }
        }
        return rows
    }

    /// Publishes a claimed batch under confirms and marks what the broker confirmed.
    private func publishAndMark(_ rows: [Row]) async throws -> Int {
        guard !rows.isEmpty else { return 0 }

        // All in flight together, in order, each row learning its own fate, as one batch for
        // the connection's thread rather than a task and a continuation per row.
        let ready = rows.filter { $0.unpublishable == nil }
        let fates = await amqp.publishEach(ready.map(\.message))
        var published: [Int64] = []
        var firstFailure: Error?
        for (row, error) in zip(ready, fates) {
            guard let error else { published.append(row.id); continue }
            if case AMQPError.publishReturned = error, await deadLetter(row, reason: "unroutable: \(error)") {
                published.append(row.id)
            } else if firstFailure == nil {
                firstFailure = error
            }
        }
        for row in rows where row.unpublishable != nil {
            if await deadLetter(row, reason: row.unpublishable!) { published.append(row.id) }
        }
        if !published.isEmpty {
            try await pool.execute("UPDATE outbox SET published_at = now() WHERE id = ANY($1)", [published], prepared: true)
        }
        if let firstFailure {
            // The rest keep their lease and are tried again when it ends.
            throw firstFailure
        }
        return published.count
    }

    /// A body written with its phone left empty and last (`..."phone" : ""}}`, as the
    /// dispatcher's SQL builds a gateway's offer) with `number` put in. A number is +91 and
    /// digits (ingest checked it): nothing in it needs escaping.
    public static func body(_ body: [UInt8], withPhone number: String) throws -> [UInt8] {
        let end = Array(#""phone" : ""}}"#.utf8)
        guard body.count >= end.count, body.suffix(end.count).elementsEqual(end), number.utf8.allSatisfy({ $0 == UInt8(ascii: "+") || (48...57).contains($0) }) else {
            throw PhoneVault.Failure("an outbox body with a sealed number does not end with an empty phone, or the number is not one")
        }
        var out = body
        out.insert(contentsOf: number.utf8, at: body.count - 3)
        return out
    }

    /// A message that cannot be delivered as written (no queue takes it, or its sealed number
    /// does not open) goes to `outbox.unroutable` with the reason, as stored (a sealed number
    /// stays sealed), and its row counts as published: never retried forever, never dropped.
    private func deadLetter(_ row: Row, reason: String) async -> Bool {
        var properties = row.message.properties
        properties.headers[Headers.reason] = .string(Headers.clip(reason))
        properties.headers["x-sampark-exchange"] = .string(row.message.exchange)
        properties.headers["x-sampark-routing-key"] = .string(row.message.routingKey)
        let copy = OutgoingMessage(exchange: Topology.deadLetterExchange, routingKey: Topology.unroutableRoutingKey,
                                   body: row.message.body, properties: properties)
        do {
            try await amqp.publish(copy)
            logger.error("outbox message could not be delivered as written; dead-lettered", metadata: [
                "message_id": "\(properties.messageID ?? "")", "type": "\(properties.type ?? "")",
                "exchange": "\(row.message.exchange)", "routing_key": "\(row.message.routingKey)", "reason": "\(reason)",
            ])
            return true
        } catch {
            return false
        }
    }
}
