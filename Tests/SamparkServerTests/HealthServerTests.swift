import Foundation
import Logging
import Prometheus
import Synchronization
import Testing

@testable import SamparkServer

/// A flag a test flips, read by a readiness check.
final class Flag: Sendable {
    private let value: Mutex<Bool>
    init(_ value: Bool) { self.value = Mutex(value) }
    func set(_ newValue: Bool) { value.withLock { $0 = newValue } }
    var isSet: Bool { value.withLock { $0 } }
}

/// The real server on 127.0.0.1, on a port the kernel picks, with a real HTTP client.
@Suite struct HealthServerTests {
    static let quiet = Logger(label: "test.http") { _ in SwiftLogNoOpLogHandler() }

    /// Runs `server` for the duration of `body`, then cancels it and waits for it to stop.
    private func withRunning<T>(
        _ server: HealthServer, _ body: (Int) async throws -> T
    ) async throws -> T {
        let task = Task { try await server.run() }
        defer { task.cancel() }
        let port = try await server.boundPort()
        let result = try await body(port)
        task.cancel()
        _ = try? await task.value
        return result
    }

    @Test func liveReadyAndMetrics() async throws {
        let registry = PrometheusCollectorRegistry()
        let metrics = WorkerMetrics(registry: registry)
        let rabbit = Flag(true)
        let postgres = Flag(true)
        let server = HealthServer(
            host: "127.0.0.1", port: 0,
            checks: [ReadinessCheck("rabbitmq") { rabbit.isSet }, ReadinessCheck("postgres") { postgres.isSet }],
            registry: registry, logger: Self.quiet)

        try await withRunning(server) { port in
            #expect(port > 0)

            let live = try await TestHTTPClient.get(port: port, path: "/health/live")
            #expect(live.status == 200)
            #expect(live.body == #"{"status":"live"}"#)
            #expect(live.headers["content-type"] == "application/json")

            let ready = try await TestHTTPClient.get(port: port, path: "/health/ready")
            #expect(ready.status == 200)
            let readyJSON = try #require(try JSONSerialization.jsonObject(with: Data(ready.body.utf8)) as? [String: Any])
            #expect(readyJSON["status"] as? String == "ready")
            #expect(readyJSON["checks"] as? [String: String] == ["rabbitmq": "pass", "postgres": "pass"])

            postgres.set(false)
            let notReady = try await TestHTTPClient.get(port: port, path: "/health/ready")
            #expect(notReady.status == 503)
            let notReadyJSON = try #require(
                try JSONSerialization.jsonObject(with: Data(notReady.body.utf8)) as? [String: Any])
            #expect(notReadyJSON["status"] as? String == "not ready")
            #expect(notReadyJSON["failing"] as? [String] == ["postgres"])
            #expect(notReadyJSON["checks"] as? [String: String] == ["rabbitmq": "pass", "postgres": "fail"])

            postgres.set(true)
            #expect(try await TestHTTPClient.get(port: port, path: "/health/ready").status == 200)
            // Liveness never depends on the checks.
            rabbit.set(false)
            #expect(try await TestHTTPClient.get(port: port, path: "/health/live").status == 200)
            #expect(try await TestHTTPClient.get(port: port, path: "/health/ready").status == 503)

            metrics.handled(queue: "calls.ingest", type: "call.logged.v1", duration: .milliseconds(2))
            metrics.handled(queue: "calls.ingest", type: "call.logged.v1", duration: .milliseconds(2))
            let scrape = try await TestHTTPClient.get(port: port, path: "/metrics")
            #expect(scrape.status == 200)
            #expect(scrape.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
            #expect(scrape.body.contains("# HELP sampark_messages_handled_total "))
            #expect(
                scrape.body.contains(#"sampark_messages_handled_total{queue="calls.ingest",type="call.logged.v1"} 2"#))

            #expect(try await TestHTTPClient.get(port: port, path: "/nothing-here").status == 404)
        }
    }

    @Test func drainingFailsReadinessOnly() async throws {
        let server = HealthServer(
            host: "127.0.0.1", port: 0, checks: [ReadinessCheck("rabbitmq") { true }],
            registry: PrometheusCollectorRegistry(), logger: Self.quiet)
        try await withRunning(server) { port in
            #expect(try await TestHTTPClient.get(port: port, path: "/health/ready").status == 200)
            server.beginDraining()
            let ready = try await TestHTTPClient.get(port: port, path: "/health/ready")
            #expect(ready.status == 503)
            #expect(ready.body.contains(#""failing":["shutdown"]"#))
            #expect(try await TestHTTPClient.get(port: port, path: "/health/live").status == 200)
        }
    }

    @Test func noChecksMeansReadyWhileRunning() async throws {
        let server = HealthServer(
            host: "127.0.0.1", port: 0, checks: [], registry: PrometheusCollectorRegistry(), logger: Self.quiet)
        try await withRunning(server) { port in
            let ready = try await TestHTTPClient.get(port: port, path: "/health/ready")
            #expect(ready.status == 200)
            #expect(ready.body == #"{"status":"ready","checks":{}}"#)
        }
    }

    /// A port already taken: `run` throws and `boundPort()` reports it instead of waiting forever.
    @Test func portInUseIsAnError() async throws {
        let first = HealthServer(
            host: "127.0.0.1", port: 0, checks: [], registry: PrometheusCollectorRegistry(), logger: Self.quiet)
        try await withRunning(first) { port in
            let second = HealthServer(
                host: "127.0.0.1", port: port, checks: [], registry: PrometheusCollectorRegistry(),
                logger: Self.quiet)
            let task = Task { try await second.run() }
            await #expect(throws: (any Error).self) { try await second.boundPort() }
            await #expect(throws: (any Error).self) { try await task.value }
        }
    }
}
