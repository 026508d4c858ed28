import Testing
@testable import SamparkAMQP

/// Pure logic: URLs, backoff, the outbox queue.
@Suite struct AMQPConfigurationTests {
    @Test func parsesAnAMQPURL() throws {
        let c = try AMQPConfiguration(url: "amqp://worker:s%40cret@broker.local:5673/%2f?heartbeat=10&connection_name=ingest")
        #expect(c.host == "broker.local")
        #expect(c.port == 5673)
        #expect(c.user == "worker")
        #expect(c.password == "s@cret")
        #expect(c.virtualHost == "/")
        #expect(c.heartbeat == 10)
        #expect(c.connectionName == "ingest")
        #expect(c.tls == nil)
        #expect(!c.description.contains("s@cret"))
    }

    @Test func amqpsDefaultsToVerifiedTLSOnPort5671() throws {
        let c = try AMQPConfiguration(url: "amqps://u:p@localhost/sampark?cacertfile=/etc/ca.pem")
        #expect(c.port == 5671)
        #expect(c.virtualHost == "sampark")
        #expect(c.tls?.verifyPeer == true)
        #expect(c.tls?.verifyHostname == true)
        #expect(c.tls?.caCertificatePath == "/etc/ca.pem")
    }

    @Test(arguments: ["http://h/", "amqp:///vhost", "amqp://h/?heartbeat=-1", "amqp://h/?bogus=1", "not a url"])
    func rejectsBadURLs(url: String) {
        #expect(throws: AMQPError.self) { try AMQPConfiguration(url: url) }
    }

    @Test func backoffGrowsAndIsCapped() {
        let backoff = Backoff(initial: 0.1, maximum: 2, multiplier: 2)
        #expect(backoff.ceiling(attempt: 0) == 0.1)
        #expect(backoff.ceiling(attempt: 3) == 0.8)
        #expect(backoff.ceiling(attempt: 50) == 2)
        var generator = SystemRandomNumberGenerator()
        for attempt in 0..<20 {
            let delay = backoff.delay(attempt: attempt, using: &generator)
            #expect(delay >= backoff.ceiling(attempt: attempt) / 2 && delay <= backoff.ceiling(attempt: attempt))
        }
    }

    @Test func fifoKeepsOrderThroughPrepend() {
        var fifo = FIFO<Int>()
        for i in 0..<3000 { fifo.append(i) }
        for i in 0..<2000 { #expect(fifo.popFirst() == i) }
        fifo.prepend(contentsOf: [-2, -1])
        #expect(fifo.count == 1002)
        #expect(fifo.popFirst() == -2)
        #expect(fifo.popFirst() == -1)
        #expect(fifo.popFirst() == 2000)
        #expect(fifo.removeAll().count == 999)
        #expect(fifo.isEmpty)
    }

    /// A popped publish is let go at once: the queue must not keep message bodies alive (the
    /// CLI's memory grew with the file while it did).
    @Test func fifoLetsGoOfWhatItPopped() {
        final class Body {}
        var fifo = FIFO<Body>()
        weak var first: Body?
        do {
            let body = Body()
            first = body
            fifo.append(body)
            fifo.append(Body())
        }
        #expect(first != nil)
        _ = fifo.popFirst()
        #expect(first == nil, "the popped element is released while others are still queued")
        #expect(fifo.count == 1)
    }
}
