import Foundation
import SamparkAMQP
import SamparkTestSupport

/// Opens a connection to the test broker; `heartbeat` overrides the URL's.
func testConnection(heartbeat: Int? = nil, name: String = "sampark-test") async throws -> AMQPConnection {
    var configuration = try AMQPConfiguration(url: try TestEnvironment.amqpURL())
    if let heartbeat { configuration.heartbeat = heartbeat }
    configuration.connectionName = name
    configuration.reconnectBackoff = Backoff(initial: 0.05, maximum: 0.5)
    return try await AMQPConnection.connect(configuration)
}


/// Reads deliveries until `count` distinct message ids were seen (acking each), or the
/// timeout passes. Returns the distinct ids and how many deliveries were duplicates.
func drain(_ consumer: AMQPConsumer, expecting count: Int, timeout: Duration = .seconds(60)) async throws
    -> (ids: Set<String>, duplicates: Int)
{
    try await withThrowingTaskGroup(of: (Set<String>, Int)?.self) { group in
        group.addTask {
            var ids = Set<String>()
            var duplicates = 0
            for try await delivery in consumer {
                if let id = delivery.properties.messageID, !ids.insert(id).inserted { duplicates += 1 }
                try? delivery.ack()
                if ids.count >= count { break }
            }
            return (ids, duplicates)
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        let first = try await group.next()!
        group.cancelAll()
        return first ?? ([], 0)
    }
}
