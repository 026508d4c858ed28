import Foundation
import Testing
import SamparkAMQP
import SamparkTestSupport

/// The client sends the application's acks coalesced into `multiple` acks where that is
/// exact (AckWindow). These tests prove on the real broker that it never settles a message
/// the application did not settle, and that every settlement it was given takes effect.
@Suite struct AMQPSettlementTests {
    private func publish(_ count: Int, to queue: String, on connection: AMQPConnection) async throws {
        let messages = (0..<count).map { i in
            OutgoingMessage(exchange: "", routingKey: queue, body: "m\(i)", properties: AMQPProperties(messageID: "m\(i)"))
        }
        try await connection.publish(messages)
    }

    /// Takes `count` deliveries without settling any of them.
    private func take(_ count: Int, from consumer: AMQPConsumer) async throws -> [Delivery] {
        var deliveries: [Delivery] = []
        for try await delivery in consumer {
            deliveries.append(delivery)
            if deliveries.count == count { break }
        }
        return deliveries
    }

    @Test func aMessageHeldUnackedIsNotSettledByTheAcksAroundIt() async throws {
        let connection = try await testConnection(name: "settlement-held")
        let queue = TestEnvironment.uniqueName("q_held")
        try await connection.declare(QueueDeclaration.quorum(queue))
        try await publish(100, to: queue, on: connection)

        let consumer = try await connection.consume(queue: queue, prefetch: 100)
        let deliveries = try await take(100, from: consumer)
        // Hold the first and one in the middle; ack all others, newest first.
        let held: Set<String> = ["m0", "m50"]
        for delivery in deliveries.reversed() where !held.contains(delivery.properties.messageID ?? "") {
            try delivery.ack()
        }
        // Cancelling returns the unsettled ones to the queue: exactly the two held.
        try await consumer.cancel()
        #expect(try await eventually { try await connection.inspectQueue(queue).messageCount == 2 })

        let again = try await connection.consume(queue: queue, prefetch: 10)
        let redelivered = try await take(2, from: again)
        #expect(Set(redelivered.compactMap(\.properties.messageID)) == held)
        #expect(redelivered.allSatisfy { $0.redelivered })
        for delivery in redelivered { try delivery.ack() }
        try await again.cancel()
        #expect(try await eventually { try await connection.inspectQueue(queue).messageCount == 0 })
        try await connection.deleteQueue(queue)
        await connection.close()
    }

    @Test func acksNacksAndRejectsInAnyOrderAllTakeEffect() async throws {
        let connection = try await testConnection(name: "settlement-mixed")
        let queue = TestEnvironment.uniqueName("q_mixed")
        try await connection.declare(QueueDeclaration.quorum(queue))
        try await publish(300, to: queue, on: connection)

        let consumer = try await connection.consume(queue: queue, prefetch: 300)
        var generator = SystemRandomNumberGenerator()
        let deliveries = try await take(300, from: consumer).shuffled(using: &generator)
        var requeued: Set<String> = []
        for (position, delivery) in deliveries.enumerated() {
            let id = try #require(delivery.properties.messageID)
            switch position % 10 {
            case 3: try delivery.reject(requeue: true); requeued.insert(id)
            case 7: try delivery.nack(requeue: false)      // dropped (no dead-letter exchange)
            default: try delivery.ack()
            }
        }
        // The requeued ones come back, on the same consumer, and nothing else does.
        var seenAgain: Set<String> = []
        for try await delivery in consumer {
            let id = try #require(delivery.properties.messageID)
            #expect(requeued.contains(id))
            #expect(delivery.redelivered)
            seenAgain.insert(id)
            try delivery.ack()
            if seenAgain.count == requeued.count { break }
        }
        #expect(seenAgain == requeued)
        try await consumer.cancel()
        #expect(try await eventually { try await connection.inspectQueue(queue).messageCount == 0 })
        try await connection.deleteQueue(queue)
        await connection.close()
    }

    @Test func multipleAckFromTheApplicationSettlesEverythingBelow() async throws {
        let connection = try await testConnection(name: "settlement-multiple")
        let queue = TestEnvironment.uniqueName("q_multiple")
        try await connection.declare(QueueDeclaration.quorum(queue))
        try await publish(50, to: queue, on: connection)

        let consumer = try await connection.consume(queue: queue, prefetch: 50)
        let deliveries = try await take(50, from: consumer)
        try deliveries[9].ack()                 // a single ack held for the turn...
        try deliveries[29].ack(multiple: true)  // ...then a multiple ack over it
        try await consumer.cancel()
        // 1...30 settled; 31...50 go back.
        #expect(try await eventually { try await connection.inspectQueue(queue).messageCount == 20 })
        try await connection.deleteQueue(queue)
        await connection.close()
    }
}
