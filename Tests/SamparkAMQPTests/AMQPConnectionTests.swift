import Foundation
import Testing
import SamparkAMQP
import SamparkTestSupport

/// Connecting: heartbeats, TLS, refusals.
@Suite struct AMQPConnectionTests {
    @Test func heartbeatsKeepAnIdleConnectionAlive() async throws {
        let connection = try await testConnection(heartbeat: 1, name: "idle")
        let queue = TestEnvironment.uniqueName("q_idle")
        try await connection.declare(QueueDeclaration.quorum(queue))
        // Four heartbeat intervals with nothing to do: the broker would close a silent
        // connection after two.
        try await Task.sleep(for: .seconds(4))
        try await connection.publish(OutgoingMessage(exchange: "", routingKey: queue, body: "still here"))
        #expect(connection.isConnected)
        #expect(connection.reconnectCount == 0)
        try await connection.deleteQueue(queue)
        await connection.close()
    }

    @Test func tlsWithTheTestCAConnectsAndCarriesMessages() async throws {
        var configuration = try AMQPConfiguration(url: try TestEnvironment.amqpsURL())
        configuration.tls?.caCertificatePath = try TestEnvironment.tlsCACert()
        #expect(configuration.tls?.verifyPeer == true)
        let connection = try await AMQPConnection.connect(configuration)
        let queue = TestEnvironment.uniqueName("q_tls")
        try await connection.declare(QueueDeclaration.quorum(queue))
        try await connection.publish(OutgoingMessage(exchange: "", routingKey: queue, body: "over tls"))
        let consumer = try await connection.consume(queue: queue, prefetch: 1)
        var iterator = consumer.makeAsyncIterator()
        let delivery = try #require(try await iterator.next())
        #expect(delivery.bodyString == "over tls")
        try delivery.ack()
        try await consumer.cancel()
        try await connection.deleteQueue(queue)
        await connection.close()
    }

    @Test func tlsRefusesABrokerItCannotVerify() async throws {
        // Verification is on by default; without the test CA the broker's certificate is
        // signed by nobody we trust.
        let configuration = try AMQPConfiguration(url: try TestEnvironment.amqpsURL())
        await #expect(throws: AMQPError.self) {
            _ = try await AMQPConnection.connect(configuration)
        }
    }

    /// The broker's certificate names `localhost` only (scripts/services.sh). Reached as
    /// 127.0.0.1 it is signed by the trusted CA but names another host: refused, and accepted
    /// only when host-name verification is turned off, so the refusal is the host-name check.
    @Test func tlsRefusesACertificateForAnotherHostName() async throws {
        let url = try TestEnvironment.amqpsURL().replacingOccurrences(of: "@localhost:", with: "@127.0.0.1:")
        var configuration = try AMQPConfiguration(url: url)
        configuration.tls?.caCertificatePath = try TestEnvironment.tlsCACert()
        #expect(configuration.tls?.verifyHostname == true)
        await #expect(throws: AMQPError.self) {
            _ = try await AMQPConnection.connect(configuration)
        }
        configuration.tls?.verifyHostname = false
        let connection = try await AMQPConnection.connect(configuration)
        #expect(connection.isConnected)
        await connection.close()
    }

    @Test func wrongPasswordIsAClearConnectionFailure() async throws {
        var configuration = try AMQPConfiguration(url: try TestEnvironment.amqpURL())
        configuration.password = "not-the-password"
        do {
            _ = try await AMQPConnection.connect(configuration)
            Issue.record("connected with a wrong password")
        } catch let error as AMQPError {
            guard case .connectionFailed(let reason) = error else {
                Issue.record("expected connectionFailed, got \(error)")
                return
            }
            #expect(!reason.contains("not-the-password"))
        }
    }
}
