import Foundation
import Logging
import CRabbitMQ

/// The connection's thread: it alone owns the rabbitmq-c handle and all connection state.
///
/// One turn of the loop: take queued commands; (re)connect if due; send what waits to be
/// published; read every frame already available; then sleep in poll() on the socket and
/// the wake-up eventfd, for at most a quarter of the heartbeat so rabbitmq-c (which
/// services heartbeats only inside its own calls) keeps the connection alive when idle.
///
/// @unchecked Sendable: handed to its thread once at start and touched only there.
final class ConnectionLoop: @unchecked Sendable {
    private let core: ConnectionCore
    private var logger: Logger { core.logger }
    private var handle: RabbitMQHandle?
    private var firstConnection: CheckedContinuation<Void, Error>?
    private var closeReply: [CheckedContinuation<Void, Never>] = []
    private var closing = false

    // Reconnection
    private var attempt = 0
    private var nextAttempt = ContinuousClock.now
    private var everConnected = false

    // Channels: 1 for topology methods, 2 for publishing, 3 and up one per consumer.
    private let topologyChannel: UInt16 = 1
    private let publishChannel: UInt16 = 2
    private var topologyChannelOpen = false
    private var publishChannelOpen = false

    // Publishing under confirms
    private var outbox = FIFO<PendingPublish>()
    private var unconfirmed = ConfirmWindow()
    /// Returned mandatory publishes, by sequence number, until their confirm arrives.
    private var returned: [UInt64: AMQPError] = [:]
    private var blocked = false
    private let arena = CArena()

    // Consuming
    private var consumers: [String: ConsumerState] = [:]
    private var consumerByChannel: [UInt16: String] = [:]
    private var incarnationCounter: UInt64 = 0
    private var assembling: [UInt16: Assembly] = [:]

    // Declarations to replay after a reconnect, in order.
    private var journal: [TopologyOperation] = []

    init(core: ConnectionCore, firstConnection: CheckedContinuation<Void, Error>) {
        self.core = core
        self.firstConnection = firstConnection
    }

    // MARK: The loop

    func run() {
        while true {
            for command in takeCommands() { handle(command) }
            sendPendingAcks()
            if closing { shutDown(); return }
            if handle == nil {
                if firstConnection == nil && !everConnected { shutDown(); return }
                if ContinuousClock.now >= nextAttempt { connect() }
            }
            if let handle {
                do {
                    try flushOutbox(handle)
                    try readAvailableFrames(handle)
                } catch {
                    connectionLost(error)
                }
            }
            sleepUntilWork()
        }
    }

    private func takeCommands() -> [Command] {
        core.shared.withLock { state in
            let commands = state.commands
            state.commands.removeAll(keepingCapacity: true)
            return commands
        }
    }

    /// Sleeps in poll() until the socket is readable, a command arrives, or the timeout
    /// (heartbeat service, or the next reconnection attempt) passes.
    private func sleepUntilWork() {
        var timeoutMilliseconds: Int32
        if let handle {
            if handle.hasBufferedInput || (!outbox.isEmpty && !blocked) { return }
            let heartbeat = handle.heartbeat > 0 ? handle.heartbeat : 60
            timeoutMilliseconds = Int32(min(250, heartbeat * 1000 / 4))
        } else {
            let wait = nextAttempt - ContinuousClock.now
            timeoutMilliseconds = Int32(max(0, min(1000, wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000)))
        }
        let mayPoll: Bool = core.shared.withLock { state in
            if !state.commands.isEmpty { return false }
            state.sleeping = true
            return true
        }
        guard mayPoll else { return }
        var descriptors = [pollfd(fd: core.wakeDescriptor, events: Int16(POLLIN), revents: 0)]
        if let handle { descriptors.append(pollfd(fd: handle.socketDescriptor, events: Int16(POLLIN), revents: 0)) }
        _ = poll(&descriptors, nfds_t(descriptors.count), timeoutMilliseconds)
        core.shared.withLock { $0.sleeping = false }
        var counter: UInt64 = 0
        _ = read(core.wakeDescriptor, &counter, 8)
    }

    // MARK: Commands

    private func handle(_ command: Command) {
        switch command {
        case .topology(let operation, let reply):
            guard let handle else {
                reply.resume(throwing: AMQPError.connectionLost(reason: "not connected; reconnecting"))
                return
            }
            do {
                if !topologyChannelOpen {
                    try handle.openChannel(topologyChannel)
                    topologyChannelOpen = true
                }
                let info = try handle.perform(operation, channel: topologyChannel)
                record(operation)
                reply.resume(returning: info)
            } catch let closed as ChannelClosed {
                topologyChannelOpen = false
                reply.resume(throwing: closed.error)
            } catch {
                reply.resume(throwing: error)
                connectionLost(error)
            }

        case .publish(let batch):
            for index in batch.messages.indices { outbox.append(PendingPublish(batch: batch, index: index)) }

        case .consume(let registration, let reply):
            let consumer = ConsumerState(registration: registration)
            consumers[registration.consumerTag] = consumer
            if let handle {
                do {
                    try start(consumer, on: handle)
                } catch let closed as ChannelClosed {
                    consumers[registration.consumerTag] = nil
                    registration.continuation.finish(throwing: closed.error)
                    reply.resume(throwing: closed.error)
                    return
                } catch {
                    // Registered: it starts when the connection is back.
                    connectionLost(error)
                }
            }
            reply.resume()

        case .cancel(let consumerTag, let reply):
            guard let consumer = consumers.removeValue(forKey: consumerTag) else { reply.resume(); return }
            core.shared.withLock { _ = $0.incarnations.removeValue(forKey: consumerTag) }
            if let channel = consumer.channel, let handle {
                consumerByChannel[channel] = nil
                do {
                    // Acks given before the cancel still count.
                    try sendPendingAcks(consumer, channel: channel, handle: handle)
                    try handle.cancel(channel, consumerTag: consumerTag)
                    try handle.closeChannel(channel)
                } catch is ChannelClosed {
                } catch {
                    connectionLost(error)
                }
            }
            consumer.registration.continuation.finish()
            reply.resume()

        case .settle(let settlement, let consumerTag, let tag, let incarnation):
            // A settlement for an earlier channel opening is dropped: its tag would name
            // another message now, and the broker requeued the original when the channel died.
            guard let handle, let consumer = consumers[consumerTag], consumer.incarnation == incarnation,
                  let channel = consumer.channel else { return }
            if case .ack(multiple: false) = settlement, consumer.acks.deferAck(tag) { return }
            do {
                // In order: what the application acked before this goes first.
                try sendPendingAcks(consumer, channel: channel, handle: handle)
                try handle.settle(settlement, channel: channel, tag: tag)
                switch settlement {
                case .ack(let multiple), .nack(_, let multiple): consumer.acks.settled(tag, multiple: multiple)
                case .reject: consumer.acks.settled(tag, multiple: false)
                }
            } catch {
                connectionLost(error)
            }

        case .close(let reply):
            closing = true
            if let reply { closeReply.append(reply) }
        }
    }

    /// Sends the acks the application gave during this turn, coalesced (see ``AckWindow``).
    private func sendPendingAcks() {
        guard let handle else { return }
        for consumer in consumers.values where consumer.acks.hasPending {
            guard let channel = consumer.channel else { continue }
            do {
                try sendPendingAcks(consumer, channel: channel, handle: handle)
            } catch {
                connectionLost(error)
                return
            }
        }
    }

    private func sendPendingAcks(_ consumer: ConsumerState, channel: UInt16, handle: RabbitMQHandle) throws {
        let (upTo, singles) = consumer.acks.takePending()
        if let upTo { try handle.settle(.ack(multiple: true), channel: channel, tag: upTo) }
        for tag in singles { try handle.settle(.ack(multiple: false), channel: channel, tag: tag) }
    }

    /// Keeps the journal of declarations to replay: deletions and unbinds remove what they undo.
    private func record(_ operation: TopologyOperation) {
        switch operation {
        case .exchange, .queue, .bind:
            if !journal.contains(operation) { journal.append(operation) }
        case .unbind(let binding):
            journal.removeAll { $0 == .bind(binding) }
        case .deleteQueue(let name):
            journal.removeAll {
                if case .queue(let q) = $0 { return q.name == name }
                if case .bind(let b) = $0 { return b.queue == name }
                return false
            }
        case .deleteExchange(let name):
            journal.removeAll {
                if case .exchange(let e) = $0 { return e.name == name }
                if case .bind(let b) = $0 { return b.exchange == name }
                return false
            }
        case .passiveQueue, .passiveExchange, .purgeQueue:
            break
        }
    }

    // MARK: Connecting

    private func connect() {
        do {
            let handle = try RabbitMQHandle(configuration: core.configuration)
            try handle.openChannel(topologyChannel)
            topologyChannelOpen = true
            for operation in journal {
                do {
                    _ = try handle.perform(operation, channel: topologyChannel)
                } catch let closed as ChannelClosed {
                    logger.error("replaying a declaration failed", metadata: ["error": "\(closed.error)"])
                    try handle.openChannel(topologyChannel)
                }
            }
            self.handle = handle
            for consumer in consumers.values { try start(consumer, on: handle) }
            attempt = 0
            let wasConnected = everConnected
            everConnected = true
            core.status.withLock {
                $0.connected = true
                if wasConnected { $0.reconnects += 1 }
            }
            if wasConnected {
                logger.notice("reconnected to RabbitMQ", metadata: ["broker": "\(core.configuration)"])
            }
            firstConnection?.resume()
            firstConnection = nil
        } catch {
            handle = nil
            topologyChannelOpen = false
            publishChannelOpen = false
            for consumer in consumers.values { consumer.channel = nil }
            consumerByChannel = [:]
            if let firstConnection {
                self.firstConnection = nil
                firstConnection.resume(throwing: error)
                return
            }
            scheduleReconnect(after: error)
        }
    }

    private func scheduleReconnect(after error: Error) {
        let delay = core.configuration.reconnectBackoff.delay(attempt: attempt)
        attempt += 1
        nextAttempt = ContinuousClock.now + .milliseconds(Int(delay * 1000))
        logger.warning("RabbitMQ unreachable; retrying", metadata: [
            "error": "\(error)", "attempt": "\(attempt)", "retry_in_ms": "\(Int(delay * 1000))",
        ])
    }

    /// Drops the C connection and puts everything it carried back in line for the next one.
    private func connectionLost(_ error: Error) {
        guard handle != nil else { return }
        logger.warning("lost the connection to RabbitMQ", metadata: ["error": "\(error)"])
        handle = nil
        topologyChannelOpen = false
        publishChannelOpen = false
        blocked = false
        assembling = [:]
        requeueUnconfirmed()
        for consumer in consumers.values { consumer.channel = nil }
        consumerByChannel = [:]
        core.status.withLock {
            $0.connected = false
            $0.blocked = false
        }
        scheduleReconnect(after: error)
    }

    /// Unconfirmed publishes go back to the front of the outbox, in their original order,
    /// to be sent on the next publishing channel.
    private func requeueUnconfirmed(failing exchange: String? = nil, with error: AMQPError? = nil) {
        let pending = unconfirmed.removeAll()
        returned = [:]
        var again: [PendingPublish] = []
        for publish in pending {
            if let exchange, let error, publish.message.exchange == exchange {
                publish.batch.settle(error, at: publish.index)
            } else {
                again.append(publish)
            }
        }
        outbox.prepend(contentsOf: again)
    }

    private func shutDown() {
        let error = AMQPError.closed
        for publish in outbox.removeAll() { publish.batch.settle(error, at: publish.index) }
        for publish in unconfirmed.removeAll() { publish.batch.settle(error, at: publish.index) }
        if let handle {
            // Acks given before the close still count.
            for consumer in consumers.values {
                guard let channel = consumer.channel else { continue }
                try? sendPendingAcks(consumer, channel: channel, handle: handle)
            }
        }
        for consumer in consumers.values { consumer.registration.continuation.finish() }
        consumers = [:]
        let remaining: [Command] = core.shared.withLock { state in
            state.closed = true
            state.incarnations = [:]
            let commands = state.commands
            state.commands = []
            return commands
        }
        for command in remaining { ConnectionCore.refuse(command) }
        handle?.close()
        handle = nil
        core.status.withLock { $0.connected = false }
        close(core.wakeDescriptor)
        firstConnection?.resume(throwing: error)
        firstConnection = nil
        for reply in closeReply { reply.resume() }
    }

    // MARK: Consumers

    private func start(_ consumer: ConsumerState, on handle: RabbitMQHandle) throws {
        var channel: UInt16 = publishChannel + 1
        while consumerByChannel[channel] != nil { channel += 1 }
        try handle.openChannel(channel)
        try handle.qos(channel, prefetch: consumer.registration.prefetch)
        try handle.consume(channel, queue: consumer.registration.queue, consumerTag: consumer.registration.consumerTag)
        incarnationCounter += 1
        consumer.channel = channel
        consumer.incarnation = incarnationCounter
        consumer.acks = AckWindow()
        consumerByChannel[channel] = consumer.registration.consumerTag
        let tag = consumer.registration.consumerTag
        let incarnation = incarnationCounter
        core.shared.withLock { $0.incarnations[tag] = incarnation }
    }

    // MARK: Publishing

    private func flushOutbox(_ handle: RabbitMQHandle) throws {
        guard !blocked, !outbox.isEmpty else { return }
        if !publishChannelOpen {
            // Whatever the last channel left unconfirmed was put back in the outbox, so
            // numbering starts again at 1, as the broker's does on the new channel.
            precondition(unconfirmed.isEmpty, "unconfirmed publishes outlived their channel")
            try handle.openChannel(publishChannel)
            try handle.confirmSelect(publishChannel)
            publishChannelOpen = true
        }
        // A bounded slice per turn, so confirms and deliveries keep being read while a large
        // batch goes out (and the broker's writes to us never back up behind ours).
        var sent = 0
        while sent < 512, let publish = outbox.popFirst() {
            _ = unconfirmed.append(publish)
            defer { arena.reset() }
            // Borrowed from the caller's array in place: no copy of the message per publish.
            try handle.publish(publish.batch.messages[publish.index], channel: publishChannel, arena: arena)
            sent += 1
        }
    }

    private func confirm(tag: UInt64, multiple: Bool, nacked: Bool) {
        if multiple {
            while let sequence = unconfirmed.lowest, sequence <= tag {
                settle(sequence: sequence, nacked: nacked)
            }
        } else {
            settle(sequence: tag, nacked: nacked)
        }
    }

    private func settle(sequence: UInt64, nacked: Bool) {
        guard let publish = unconfirmed.remove(sequence) else { return }
        // Returns are rare: look one up only when there are any.
        if !returned.isEmpty, let error = returned.removeValue(forKey: sequence) {
            publish.batch.settle(error, at: publish.index)
        } else if nacked {
            publish.batch.settle(AMQPError.publishNacked(messageID: publish.batch.messages[publish.index].properties.messageID), at: publish.index)
        } else {
            publish.batch.settle(nil, at: publish.index)
        }
    }

    // MARK: Reading

    private func readAvailableFrames(_ handle: RabbitMQHandle) throws {
        defer { handle.releaseBuffers() }
        for _ in 0..<4096 {
            guard let frame = try handle.readFrame() else { return }
            try process(frame, handle: handle)
            if self.handle == nil { return }
        }
    }

    private func process(_ frame: IncomingFrame, handle: RabbitMQHandle) throws {
        switch frame {
        case .method(let channel, let method):
            try process(method, channel: channel, handle: handle)
        case .header(let channel, let bodySize, let properties):
            guard var assembly = assembling[channel] else { return }
            assembly.properties = properties
            assembly.bodySize = bodySize
            assembly.body.reserveCapacity(Int(bodySize))
            assembling[channel] = assembly
            if bodySize == 0 { complete(channel) }
        case .body(let channel, let bytes):
            guard assembling[channel] != nil else { return }
            assembling[channel]!.body.append(contentsOf: bytes)
            if UInt64(assembling[channel]!.body.count) >= assembling[channel]!.bodySize { complete(channel) }
        case .other:
            break
        }
    }

    private func process(_ method: IncomingMethod, channel: UInt16, handle: RabbitMQHandle) throws {
        switch method {
        case .deliver(let consumerTag, let deliveryTag, let redelivered, let exchange, let routingKey):
            assembling[channel] = Assembly(kind: .delivery(consumerTag: consumerTag, deliveryTag: deliveryTag,
                                                           redelivered: redelivered, exchange: exchange, routingKey: routingKey))
        case .returned(let code, let text, let exchange, let routingKey):
            assembling[channel] = Assembly(kind: .returned(code: code, text: text, exchange: exchange, routingKey: routingKey))
        case .ack(let tag, let multiple) where channel == publishChannel:
            confirm(tag: tag, multiple: multiple, nacked: false)
        case .nack(let tag, let multiple) where channel == publishChannel:
            confirm(tag: tag, multiple: multiple, nacked: true)
        case .ack, .nack:
            break
        case .cancel(let consumerTag):
            // The broker cancelled a consumer (its queue is gone).
            guard let consumer = consumers.removeValue(forKey: consumerTag) else { return }
            core.shared.withLock { _ = $0.incarnations.removeValue(forKey: consumerTag) }
            if let channel = consumer.channel {
                consumerByChannel[channel] = nil
                do { try handle.closeChannel(channel) } catch is ChannelClosed {}
            }
            consumer.registration.continuation.finish(throwing: AMQPError.consumerCancelled(queue: consumer.registration.queue))
        case .channelClose(let code, let text):
            try handle.sendChannelCloseOK(channel)
            channelClosed(channel, error: .serverRefused(code: code, text: text), handle: handle)
        case .connectionClose(let code, let text):
            handle.sendConnectionCloseOK()
            throw AMQPError.connectionLost(reason: "broker closed the connection (\(code)): \(text)")
        case .blocked(let reason):
            blocked = true
            core.status.withLock { $0.blocked = true }
            logger.warning("RabbitMQ blocks publishing", metadata: ["reason": "\(reason)"])
        case .unblocked:
            blocked = false
            core.status.withLock { $0.blocked = false }
            logger.notice("RabbitMQ unblocked publishing")
        case .other:
            break
        }
    }

    /// The broker closed one channel; the connection lives on.
    private func channelClosed(_ channel: UInt16, error: AMQPError, handle: RabbitMQHandle) {
        assembling[channel] = nil
        if channel == publishChannel {
            // Typically a publish to a missing exchange (404 "no exchange 'x' in vhost '/'"):
            // those publishes fail; the rest of what was unconfirmed is sent again.
            publishChannelOpen = false
            logger.error("RabbitMQ closed the publishing channel", metadata: ["error": "\(error)"])
            requeueUnconfirmed(failing: Self.quotedName(after: "exchange '", in: error), with: error)
            if case .serverRefused = error, Self.quotedName(after: "exchange '", in: error) == nil {
                // Cause unknown: fail everything unconfirmed rather than loop on it.
                for publish in outbox.removeAll() { publish.batch.settle(error, at: publish.index) }
            }
        } else if channel == topologyChannel {
            topologyChannelOpen = false
        } else if let tag = consumerByChannel.removeValue(forKey: channel), let consumer = consumers[tag] {
            // E.g. a precondition failure; restart the consumer on a fresh channel.
            logger.error("RabbitMQ closed a consumer's channel", metadata: ["queue": "\(consumer.registration.queue)", "error": "\(error)"])
            consumer.channel = nil
            do {
                try start(consumer, on: handle)
            } catch {
                consumers[tag] = nil
                consumer.registration.continuation.finish(throwing: error)
            }
        }
    }

    private static func quotedName(after marker: String, in error: AMQPError) -> String? {
        guard case .serverRefused(_, let text) = error, let start = text.range(of: marker) else { return nil }
        let rest = text[start.upperBound...]
        guard let end = rest.firstIndex(of: "'") else { return nil }
        return String(rest[..<end])
    }

    private func complete(_ channel: UInt16) {
        guard let assembly = assembling.removeValue(forKey: channel) else { return }
        switch assembly.kind {
        case .delivery(let consumerTag, let deliveryTag, let redelivered, let exchange, let routingKey):
            guard let consumer = consumers[consumerTag], consumer.channel == channel else { return }
            consumer.acks.delivered(deliveryTag)
            let delivery = Delivery(body: assembly.body, properties: assembly.properties, exchange: exchange,
                                    routingKey: routingKey, redelivered: redelivered, deliveryTag: deliveryTag,
                                    consumerTag: consumerTag, incarnation: consumer.incarnation, settler: core)
            consumer.registration.continuation.yield(delivery)
        case .returned(let code, let text, _, _):
            // Matched to its publish by message id; the broker sends the return before the
            // confirm of the same message, and `settle(sequence:)` turns it into an error.
            // Returns are rare, so a scan here beats an index kept for every publish.
            guard let id = assembly.properties.messageID,
                  let sequence = unconfirmed.firstSequence(where: { sequence, publish in
                      publish.message.mandatory && publish.message.properties.messageID == id
                          && returned[sequence] == nil
                  }) else { return }
            returned[sequence] = .publishReturned(messageID: id, code: code, text: text)
        }
    }
}

/// One message of a caller's batch, as the outbox and the confirm window hold it.
struct PendingPublish {
    let batch: PublishBatch
    let index: Int
    var message: OutgoingMessage { batch.messages[index] }
}

/// A consumer as its connection's thread knows it. A class so the maps that index it
/// (by tag, by channel) share one copy.
final class ConsumerState {
    let registration: ConsumerRegistration
    var channel: UInt16?
    var incarnation: UInt64 = 0
    var acks = AckWindow()

    init(registration: ConsumerRegistration) {
        self.registration = registration
    }
}

/// A message being read off a channel: a method frame, a header, then body frames.
struct Assembly {
    enum Kind {
        case delivery(consumerTag: String, deliveryTag: UInt64, redelivered: Bool, exchange: String, routingKey: String)
        case returned(code: Int, text: String, exchange: String, routingKey: String)
    }
    let kind: Kind
    var properties = AMQPProperties()
    var bodySize: UInt64 = 0
    var body: [UInt8] = []
}
