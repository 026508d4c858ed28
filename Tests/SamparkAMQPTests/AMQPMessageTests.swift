import Foundation
import Testing
import SamparkAMQP
import SamparkTestSupport

/// What goes out comes back: properties, headers, bodies; and quorum-queue arguments work.
@Suite struct AMQPMessageTests {
    @Test func everyStandardPropertyAndHeaderRoundTrips() async throws {
        let connection = try await testConnection()
        let queue = TestEnvironment.uniqueName("q_props")
        try await connection.declare(QueueDeclaration.quorum(queue))
        let headers: [String: AMQPFieldValue] = [
            "x-reason": "schema violation: field phone",
            "attempt": .int(3),
            "ok": .bool(false),
            "ratio": .double(0.25),
            "tags": .array([.string("a"), .int(2)]),
            "nested": .table(["k": .string("v"), "n": .int(-7)]),
            "hindi": "मतदान",
        ]
        let properties = AMQPProperties(
            contentType: "application/json", contentEncoding: "utf-8", headers: headers, deliveryMode: 2,
            priority: 1, correlationID: "corr-1", replyTo: "reply.queue", expiration: "60000",
            messageID: "msg-1", timestamp: 1_700_000_000, type: "report.daily.v1", userID: "sampark",
            appID: "sampark-test")
        let body = Array("{\"नाम\":\"राम\"}".utf8) + Array(repeating: 0x20, count: 300_000)
        try await connection.publish(OutgoingMessage(exchange: "", routingKey: queue, body: body, properties: properties))

        let consumer = try await connection.consume(queue: queue, prefetch: 1)
        var iterator = consumer.makeAsyncIterator()
        let delivery = try #require(try await iterator.next())
        #expect(delivery.properties == properties)
        #expect(delivery.body == body)
        #expect(delivery.routingKey == queue)
        #expect(delivery.redelivered == false)
        try delivery.ack()
        try await consumer.cancel()
        try await connection.deleteQueue(queue)
        await connection.close()
    }

    @Test func deliveryLimitDeadLettersAMessageThatKeepsFailing() async throws {
        let connection = try await testConnection()
        let dlx = TestEnvironment.uniqueName("x_dead")
        let dlq = TestEnvironment.uniqueName("q_dead")
        let queue = TestEnvironment.uniqueName("q_work")
        try await connection.declare(ExchangeDeclaration(name: dlx, kind: .fanout))
        try await connection.declare(QueueDeclaration.quorum(dlq))
        try await connection.bind(QueueBinding(queue: dlq, exchange: dlx, routingKey: ""))
        try await connection.declare(QueueDeclaration.quorum(queue, deadLetterExchange: dlx, deliveryLimit: 2))
        try await connection.publish(OutgoingMessage(exchange: "", routingKey: queue, body: "poison"))

        let consumer = try await connection.consume(queue: queue, prefetch: 1)
        var attempts = 0
        let dead = try await testConnection()
        let deadConsumer = try await dead.consume(queue: dlq, prefetch: 1)
        // Requeue until the broker gives up and dead-letters it.
        let requeuer = Task {
            for try await delivery in consumer {
                attempts += 1
                try delivery.nack(requeue: true)
            }
            return attempts
        }
        var deadIterator = deadConsumer.makeAsyncIterator()
        let deadLetter = try #require(try await deadIterator.next())
        #expect(deadLetter.bodyString == "poison")
        try deadLetter.ack()
        try await consumer.cancel()
        let tries = try await requeuer.value
        #expect(tries == 3)  // the first delivery and two redeliveries, then the limit
        try await connection.deleteQueue(queue)
        try await connection.deleteQueue(dlq)
        try await connection.deleteExchange(dlx)
        await dead.close()
        await connection.close()
    }
}
