import Foundation
import Testing
import SamparkAMQP
import SamparkTestSupport

/// Publishing under confirms and consuming with acks, on the real broker.
@Suite struct AMQPPublishConsumeTests {
    @Test func tenThousandConfirmedPublishesAreConsumedExactlyOnce() async throws {
        let connection = try await AMQPConnection.connect(url: try TestEnvironment.amqpURL())
        defer { Task { await connection.close() } }
        let queue = TestEnvironment.uniqueName("q_confirmed")
        try await connection.declare(QueueDeclaration.quorum(queue))

        let count = 10_000
        try await withThrowingTaskGroup(of: Void.self) { group in
            for chunk in stride(from: 0, to: count, by: 500) {
                group.addTask {
                    let messages = (chunk..<min(chunk + 500, count)).map { i in
                        OutgoingMessage(exchange: "", routingKey: queue, body: "message \(i)",
                                        properties: AMQPProperties(messageID: "m-\(i)"))
                    }
                    try await connection.publish(messages)
                }
            }
            try await group.waitForAll()
        }
        #expect(try await connection.inspectQueue(queue).messageCount == UInt32(count))

        var seen = Set<String>()
        var duplicates = 0
        let consumer = try await connection.consume(queue: queue, prefetch: 500)
        for try await delivery in consumer {
            let id = try #require(delivery.properties.messageID)
            if !seen.insert(id).inserted { duplicates += 1 }
            #expect(delivery.bodyString == "message \(id.dropFirst(2))")
            try delivery.ack()
            if seen.count == count { break }
        }
        try await consumer.cancel()
        #expect(seen.count == count)
        #expect(duplicates == 0)
        #expect(try await connection.inspectQueue(queue).messageCount == 0)
        try await connection.deleteQueue(queue)
    }
}
