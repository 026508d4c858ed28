import Foundation
import SamparkAMQP

/// Publish-with-confirms and consume-with-ack throughput of the Swift client beside the
/// same work done by direct rabbitmq-c calls (Benchmarks/rabbitmq-c-baseline.c), on the same
/// broker and quorum queue, alternating in each round so drift hits both alike.
struct AMQPBench {
    let options: BenchOptions
    let url: String
    let baselineBinary: String

    func run() async throws -> [BenchRow] {
        let configuration = try AMQPConfiguration(url: url)
        let connection = try await AMQPConnection.connect(configuration)
        let queue = "bench.amqp.quorum"
        try? await connection.deleteQueue(queue)
        try await connection.declare(QueueDeclaration.quorum(queue))

        var swiftPublish: [Double] = [], swiftConsume: [Double] = []
        var cPublish: [Double] = [], cConsume: [Double] = []
        let n = options.messages
        for round in 1...options.rounds {
            let cPub = try rabbitmqC(baselineBinary, "publish", url: url, queue: queue, count: n, [options.messageSize, options.window])
            let cCon = try rabbitmqC(baselineBinary, "consume", url: url, queue: queue, count: n, [options.prefetch])
            try await expectEmpty(connection, queue, after: "the rabbitmq-c round")
            let sPub = try await publish(connection, queue: queue)
            let sCon = try await consume(connection, queue: queue)
            try await expectEmpty(connection, queue, after: "the Swift round")
            cPublish.append(cPub); cConsume.append(cCon)
            swiftPublish.append(sPub); swiftConsume.append(sCon)
            print(String(format: "round %d: publish Swift %.0f/s C %.0f/s; consume Swift %.0f/s C %.0f/s",
                         round, sPub, cPub, sCon, cCon))
        }
        try await connection.deleteQueue(queue)
        await connection.close()
        let what = "\(n) x \(options.messageSize) B persistent, quorum queue"
        return [
            BenchRow(measure: "publish with confirms, \(what), window \(options.window)", unit: "msg/s",
                     swift: swiftPublish, baseline: cPublish, baselineName: "rabbitmq-c direct", target: 0.95),
            BenchRow(measure: "consume with ack, prefetch \(options.prefetch)", unit: "msg/s",
                     swift: swiftConsume, baseline: cConsume, baselineName: "rabbitmq-c direct", target: 0.95),
        ]
    }

    /// The same messages as the baseline (300 bytes, persistent, message id, content type,
    /// timestamp), in batches whose confirms are awaited together, never more than
    /// `window` unconfirmed (16 lanes of window/16 messages).
    private func publish(_ connection: AMQPConnection, queue: String) async throws -> Double {
        let body = [UInt8](repeating: UInt8(ascii: "x"), count: options.messageSize)
        // Small batches in many lanes keep the window nearly full, as the C program does by
        // refilling after every confirm: a lane refills as soon as its batch is confirmed.
        let batchSize = max(1, options.window / 16)
        let lanes = max(1, options.window / batchSize)
        let n = options.messages
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<lanes {
                group.addTask {
                    var first = lane * batchSize
                    while first < n {
                        let batch = (first..<min(first + batchSize, n)).map { i in
                            OutgoingMessage(exchange: "", routingKey: queue, body: body,
                                            properties: AMQPProperties(contentType: "application/json", messageID: "swift-\(i)"))
                        }
                        try await connection.publish(batch)
                        first += lanes * batchSize
                    }
                }
            }
            try await group.waitForAll()
        }
        return Double(n) / seconds(since: start)
    }

    private func consume(_ connection: AMQPConnection, queue: String) async throws -> Double {
        let start = ContinuousClock.now
        let consumer = try await connection.consume(queue: queue, prefetch: UInt16(options.prefetch))
        var received = 0
        for try await delivery in consumer {
            try delivery.ack()
            received += 1
            if received == options.messages { break }
        }
        let rate = Double(received) / seconds(since: start)
        try await consumer.cancel()
        return rate
    }

    /// A quorum queue applies acks through its Raft log, so its count may lag (seconds, under load).
    private func expectEmpty(_ connection: AMQPConnection, _ queue: String, after round: String) async throws {
        var count = try await connection.inspectQueue(queue).messageCount
        for _ in 0..<600 where count != 0 {
            try await Task.sleep(for: .milliseconds(50))
            count = try await connection.inspectQueue(queue).messageCount
        }
        if count != 0 { fail("queue \(queue) holds \(count) messages after \(round)") }
    }
}
