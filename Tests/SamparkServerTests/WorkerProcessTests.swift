import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization
import Testing

@testable import SamparkServer

/// A stand-in worker: reports that it started, waits for graceful shutdown, then (while it
/// "drains") asks the health server how the process looks from outside.
struct DrainingWorker: Service {
    let health: HealthServer
    let started: AsyncStream<Void>.Continuation
    let seen: @Sendable ([String: Int]) -> Void

    func run() async throws {
        started.yield()
        try await gracefulShutdown()
        let port = try await health.boundPort()
        let ready = try await TestHTTPClient.get(port: port, path: "/health/ready")
        let live = try await TestHTTPClient.get(port: port, path: "/health/live")
        seen(["ready": ready.status, "live": live.status, "ready_names_shutdown": ready.body.contains("shutdown") ? 1 : 0])
    }
}

/// Ignores graceful shutdown: only cancellation ends it.
struct StuckWorker: Service {
    let started: AsyncStream<Void>.Continuation
    func run() async throws {
        started.yield()
        try await Task.sleep(for: .seconds(3600))
    }
}

struct ReturnsAtOnce: Service {
    func run() async throws {}
}

struct Fails: Service {
    struct Boom: Error {}
    func run() async throws { throw Boom() }
}

@Suite struct WorkerProcessTests {
    private func health() -> HealthServer {
        HealthServer(
            host: "127.0.0.1", port: 0, checks: [ReadinessCheck("rabbitmq") { true }],
            registry: PrometheusCollectorRegistry(), logger: Logger(label: "t") { _ in SwiftLogNoOpLogHandler() })
    }

    private func logger(_ collector: LineCollector) -> Logger {
        Logger(label: "sampark.test-worker") { JSONLogHandler(label: $0, level: .info, sink: collector.sink) }
    }

    /// What SIGTERM does, triggered in-process: readiness fails at once, the worker drains while
    /// the health server still answers, and the run ends as a graceful shutdown.
    @Test func gracefulShutdownDrainsWorkersBeforeTheHealthServer() async throws {
        try await checkGracefulShutdown(handleSignals: false) { run in await run.group.triggerGracefulShutdown() }
    }

    // A real SIGTERM is sent to real worker processes in SamparkEndToEndTests (every worker
    // must exit 0); signalling this shared test process could kill other tests running beside.

    private func checkGracefulShutdown(
        handleSignals: Bool, trigger: (WorkerProcess.Run) async -> Void
    ) async throws {
        let health = health()
        let collector = LineCollector()
        let (startedStream, started) = AsyncStream.makeStream(of: Void.self)
        let observed = Mutex<[String: Int]>([:])
        let worker = DrainingWorker(health: health, started: started, seen: { values in observed.withLock { $0 = values } })
        let run = WorkerProcess.makeRun(
            name: "test-worker", services: [worker], health: health, shutdownTimeout: .seconds(30),
            logger: logger(collector), handleSignals: handleSignals)

        let task = Task { try await run.run() }
        let port = try await health.boundPort()
        // The worker runs only once the group has registered its signal handlers.
        var iterator = startedStream.makeAsyncIterator()
        await iterator.next()
        #expect(try await TestHTTPClient.get(port: port, path: "/health/ready").status == 200)

        await trigger(run)
        let outcome = try await task.value
        #expect(outcome == .gracefulShutdown)
        #expect(observed.withLock { $0 } == ["ready": 503, "live": 200, "ready_names_shutdown": 1])
        let messages = try collector.objects().compactMap { $0["msg"] as? String }
        #expect(messages.contains("graceful shutdown started: readiness now fails"))
        #expect(messages.last == "worker stopped")
    }

    /// A worker that ignores graceful shutdown is cancelled after the timeout.
    @Test func shutdownIsBoundedByTheTimeout() async throws {
        let health = health()
        let collector = LineCollector()
        let (startedStream, started) = AsyncStream.makeStream(of: Void.self)
        let run = WorkerProcess.makeRun(
            name: "stuck", services: [StuckWorker(started: started)], health: health,
            shutdownTimeout: .milliseconds(200), logger: logger(collector), handleSignals: false)
        let task = Task { try await run.run() }
        var iterator = startedStream.makeAsyncIterator()
        await iterator.next()
        _ = try await health.boundPort()
        await run.group.triggerGracefulShutdown()
        #expect(try await task.value == .shutdownTimedOut)
        let levels = try collector.objects().compactMap { $0["level"] as? String }
        #expect(levels.last == "warning")
    }

    @Test func aWorkerEndingEarlyStopsTheProcessWithAnError() async throws {
        let run = WorkerProcess.makeRun(
            name: "early", services: [ReturnsAtOnce()], health: health(), shutdownTimeout: .seconds(30),
            logger: logger(LineCollector()), handleSignals: false)
        let error = await #expect(throws: WorkerProcess.ServiceEndedEarly.self) { try await run.run() }
        #expect(error?.service == "ReturnsAtOnce#0")
    }

    @Test func aFailingWorkerStopsTheProcessWithItsError() async throws {
        let collector = LineCollector()
        let run = WorkerProcess.makeRun(
            name: "failing", services: [Fails()], health: health(), shutdownTimeout: .seconds(30),
            logger: logger(collector), handleSignals: false)
        await #expect(throws: Fails.Boom.self) { try await run.run() }
        let last = try #require(try collector.objects().last)
        #expect(last["msg"] as? String == "worker stopped after a failure")
        #expect(last["worker"] as? String == "failing")
    }
}
