import Foundation
import Testing
import SamparkAMQP
import SamparkTestSupport

/// Faults done to the real broker: it closes our connections, restarts, freezes, or blocks
/// publishers. These run alone (`make test` runs suites named *Disruptive* after the others,
/// one at a time), because they disturb every connection to the broker.
@Suite(.serialized) struct AMQPDisruptiveTests {
    /// Publishes `count` messages in batches while `fault` runs once partway; returns the ids
    /// of the messages whose publish returned (confirmed).
    private func publishThrough(_ connection: AMQPConnection, queue: String, count: Int,
                                faultAfter: Int, fault: @escaping @Sendable () throws -> Void) async throws -> Set<String> {
        var confirmed = Set<String>()
        var faulted = false
        for start in stride(from: 0, to: count, by: 100) {
            let batch = (start..<min(start + 100, count)).map { i in
                OutgoingMessage(exchange: "", routingKey: queue, body: "m\(i)", properties: AMQPProperties(messageID: "m\(i)"))
            }
            try await connection.publish(batch)
            for message in batch { confirmed.insert(message.properties.messageID!) }
            if !faulted && confirmed.count >= faultAfter {
                faulted = true
                try fault()
            }
        }
        return confirmed
    }

    @Test func brokerClosingTheConnectionMidStreamLosesNoConfirmedMessage() async throws {
        let publisher = try await testConnection(name: "publisher")
        let consumerConnection = try await testConnection(name: "consumer")
        let queue = TestEnvironment.uniqueName("q_close")
        try await publisher.declare(QueueDeclaration.quorum(queue))
        let consumer = try await consumerConnection.consume(queue: queue, prefetch: 200)
        async let received = drain(consumer, expecting: 5_000)

        let confirmed = try await publishThrough(publisher, queue: queue, count: 5_000, faultAfter: 2_000) {
            try TestEnvironment.services("close-amqp-connections")
        }
        let (ids, duplicates) = try await received
        #expect(confirmed.count == 5_000)
        #expect(confirmed.isSubset(of: ids))
        #expect(publisher.reconnectCount >= 1)
        #expect(consumerConnection.reconnectCount >= 1)
        print("close mid-stream: \(ids.count) distinct delivered, \(duplicates) redelivered duplicates")
        try await consumer.cancel()
        try await publisher.deleteQueue(queue)
        await publisher.close()
        await consumerConnection.close()
    }

    @Test func brokerRestartMidStreamLosesNoConfirmedMessage() async throws {
        let publisher = try await testConnection(name: "publisher")
        let queue = TestEnvironment.uniqueName("q_restart")
        try await publisher.declare(QueueDeclaration.quorum(queue))
        let confirmed = try await publishThrough(publisher, queue: queue, count: 3_000, faultAfter: 1_000) {
            try TestEnvironment.services("restart-rabbitmq")
        }
        #expect(publisher.reconnectCount >= 1)
        let consumer = try await publisher.consume(queue: queue, prefetch: 500)
        let (ids, _) = try await drain(consumer, expecting: 3_000)
        #expect(confirmed.isSubset(of: ids))
        try await consumer.cancel()
        try await publisher.deleteQueue(queue)
        await publisher.close()
    }

    @Test func aFrozenBrokerIsNoticedWithinTwoHeartbeatsAndRecoveredFrom() async throws {
        let connection = try await testConnection(heartbeat: 1, name: "heartbeat-loss")
        let queue = TestEnvironment.uniqueName("q_frozen")
        try await connection.declare(QueueDeclaration.quorum(queue))
        #expect(connection.isConnected)
        let pause = Task.detached { try TestEnvironment.services("pause-rabbitmq", "6") }
        let start = ContinuousClock.now
        let noticed = await eventually(timeout: .seconds(5)) { !connection.isConnected }
        let noticedAfter = ContinuousClock.now - start
        #expect(noticed, "a frozen broker went unnoticed for 5 s with a 1 s heartbeat")
        print("frozen broker noticed after \(noticedAfter)")
        try await pause.value
        #expect(await eventually(timeout: .seconds(60)) { connection.isConnected })
        try await connection.publish(OutgoingMessage(exchange: "", routingKey: queue, body: "after the freeze"))
        #expect(connection.reconnectCount >= 1)
        try await connection.deleteQueue(queue)
        await connection.close()
    }

    @Test func aDeliveryFromBeforeAReconnectIsNeverAckedOnTheNewChannel() async throws {
        let connection = try await testConnection(name: "stale")
        let queue = TestEnvironment.uniqueName("q_stale")
        try await connection.declare(QueueDeclaration.quorum(queue))
        try await connection.publish(OutgoingMessage(exchange: "", routingKey: queue, body: "once",
                                                     properties: AMQPProperties(messageID: "only")))
        let consumer = try await connection.consume(queue: queue, prefetch: 1)
        var iterator = consumer.makeAsyncIterator()
        let first = try #require(try await iterator.next())
        #expect(first.redelivered == false)

        try TestEnvironment.services("close-amqp-connections")
        #expect(await eventually { connection.reconnectCount >= 1 && connection.isConnected })
        #expect(throws: AMQPError.staleDelivery) { try first.ack() }

        let again = try #require(try await iterator.next())
        #expect(again.properties.messageID == "only")
        #expect(again.redelivered == true)
        try again.ack()
        try await consumer.cancel()
        #expect(try await connection.inspectQueue(queue).messageCount == 0)
        try await connection.deleteQueue(queue)
        await connection.close()
    }

    @Test func publishersWaitWhileTheBrokerBlocksThem() async throws {
        let connection = try await testConnection(name: "blocked")
        let queue = TestEnvironment.uniqueName("q_blocked")
        try await connection.declare(QueueDeclaration.quorum(queue))
        try await connection.publish(OutgoingMessage(exchange: "", routingKey: queue, body: "before the alarm"))
        // The broker stops reading a blocked connection altogether, declarations included;
        // a connection that never publishes is not blocked and can look at the queue.
        let inspector = try await testConnection(name: "inspector")

        // A memory alarm: the broker blocks every publishing connection.
        try TestEnvironment.services("rabbitmqctl", "set_vm_memory_high_watermark", "0.000001")
        do {
            let publish = Task { try await connection.publish(OutgoingMessage(exchange: "", routingKey: queue, body: "during")) }
            #expect(await eventually(timeout: .seconds(20)) { connection.isBlocked })
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await inspector.inspectQueue(queue).messageCount == 1)
            try TestEnvironment.services("rabbitmqctl", "set_vm_memory_high_watermark", "0.4")
            try await publish.value
            #expect(!connection.isBlocked)
            #expect(connection.reconnectCount == 0)
            #expect(try await inspector.inspectQueue(queue).messageCount == 2)
        } catch {
            try? TestEnvironment.services("rabbitmqctl", "set_vm_memory_high_watermark", "0.4")
            throw error
        }
        try await inspector.deleteQueue(queue)
        await inspector.close()
        await connection.close()
    }
}
