import Foundation
import Testing
import SamparkAMQP
import SamparkTestSupport

/// A publish the broker cannot take is an error to its caller, never silence.
@Suite struct AMQPPublishErrorTests {
    @Test func unroutableMandatoryPublishIsReturnedAsAnError() async throws {
        let connection = try await testConnection()
        let exchange = TestEnvironment.uniqueName("x_unroutable")
        try await connection.declare(ExchangeDeclaration(name: exchange, kind: .topic, durable: false, autoDelete: true))
        let message = OutgoingMessage(exchange: exchange, routingKey: "nobody.listens", body: "lost?")
        await #expect(throws: AMQPError.publishReturned(messageID: message.properties.messageID, code: 312, text: "NO_ROUTE")) {
            try await connection.publish(message)
        }
        // Not mandatory: the broker drops it and confirms, as AMQP says.
        try await connection.publish(OutgoingMessage(exchange: exchange, routingKey: "x", body: "ok", mandatory: false))
        await connection.close()
    }

    /// `publishEach` gives each message of one batch its own fate, in order: the routable ones
    /// confirmed, the one no queue takes returned as unroutable (the outbox relay marks the
    /// first and dead-letters the second).
    @Test func publishEachTellsEachMessagesFate() async throws {
        let connection = try await testConnection()
        let queue = TestEnvironment.uniqueName("q_each")
        try await connection.declare(QueueDeclaration.quorum(queue))
        let lost = OutgoingMessage(exchange: "", routingKey: TestEnvironment.uniqueName("q_nobody"), body: "lost?")
        let fates = await connection.publishEach([
            OutgoingMessage(exchange: "", routingKey: queue, body: "first"), lost,
            OutgoingMessage(exchange: "", routingKey: queue, body: "third"),
        ])
        #expect(fates.count == 3)
        #expect(fates[0] == nil && fates[2] == nil, "\(fates)")
        #expect(fates[1] as? AMQPError == AMQPError.publishReturned(messageID: lost.properties.messageID, code: 312, text: "NO_ROUTE"))
        #expect(try await connection.inspectQueue(queue).messageCount == 2)
        #expect(await connection.publishEach([]).isEmpty)
        try await connection.deleteQueue(queue)
        await connection.close()
    }

    @Test func nackFromAFullQueueIsAnError() async throws {
        let connection = try await testConnection()
        let queue = TestEnvironment.uniqueName("q_full")
        // A classic queue: quorum queues enforce x-max-length only approximately.
        try await connection.declare(QueueDeclaration(name: queue, durable: false, autoDelete: false,
                                                      arguments: ["x-max-length": 1, "x-overflow": "reject-publish"]))
        try await connection.publish(OutgoingMessage(exchange: "", routingKey: queue, body: "first"))
        let second = OutgoingMessage(exchange: "", routingKey: queue, body: "second")
        await #expect(throws: AMQPError.publishNacked(messageID: second.properties.messageID)) {
            try await connection.publish(second)
        }
        #expect(try await connection.inspectQueue(queue).messageCount == 1)
        try await connection.deleteQueue(queue)
        await connection.close()
    }

    @Test func publishToAMissingExchangeFailsOnlyThosePublishes() async throws {
        let connection = try await testConnection()
        let queue = TestEnvironment.uniqueName("q_survivor")
        try await connection.declare(QueueDeclaration.quorum(queue))
        let missing = TestEnvironment.uniqueName("x_missing")
        async let good: Void = connection.publish((0..<200).map {
            OutgoingMessage(exchange: "", routingKey: queue, body: "good \($0)")
        })
        await #expect(throws: AMQPError.self) {
            try await connection.publish(OutgoingMessage(exchange: missing, routingKey: "k", body: "bad"))
        }
        try await good
        // The publishing channel comes back by itself.
        try await connection.publish(OutgoingMessage(exchange: "", routingKey: queue, body: "after"))
        #expect(try await connection.inspectQueue(queue).messageCount >= 201)
        try await connection.deleteQueue(queue)
        await connection.close()
    }

    @Test func passiveDeclareOfAMissingQueueIs404AndTheConnectionLivesOn() async throws {
        let connection = try await testConnection()
        do {
            _ = try await connection.inspectQueue(TestEnvironment.uniqueName("q_absent"))
            Issue.record("a missing queue was reported as present")
        } catch let error as AMQPError {
            guard case .serverRefused(let code, _) = error else {
                Issue.record("expected serverRefused, got \(error)")
                return
            }
            #expect(code == 404)
        }
        let queue = TestEnvironment.uniqueName("q_after_404")
        try await connection.declare(QueueDeclaration.quorum(queue))
        try await connection.publish(OutgoingMessage(exchange: "", routingKey: queue, body: "x"))
        #expect(try await connection.inspectQueue(queue).messageCount == 1)
        try await connection.deleteQueue(queue)
        #expect(connection.reconnectCount == 0)
        await connection.close()
    }

    @Test func mismatchedQueueArgumentsArePreconditionFailed() async throws {
        let connection = try await testConnection()
        let queue = TestEnvironment.uniqueName("q_args")
        try await connection.declare(QueueDeclaration.quorum(queue, deliveryLimit: 3))
        await #expect(throws: AMQPError.self) {
            try await connection.declare(QueueDeclaration.quorum(queue, deliveryLimit: 5))
        }
        try await connection.deleteQueue(queue)
        await connection.close()
    }
}
