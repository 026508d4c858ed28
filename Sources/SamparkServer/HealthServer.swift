import Foundation
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization

/// The HTTP side of every worker: liveness, readiness and Prometheus metrics.
///
/// | route | answer |
/// |---|---|
/// | `GET /health/live` | 200 `{"status":"live"}` while the process runs |
/// | `GET /health/ready` | 200 `{"status":"ready","checks":{"rabbitmq":"pass",…}}` when every check passes; else 503 `{"status":"not ready","failing":["postgres"],"checks":{…}}` |
/// | `GET /metrics` | the registry in Prometheus text format, `text/plain; version=0.0.4` |
///
/// A `Service`: run it in the worker's `ServiceGroup` (``WorkerProcess`` does). It is built on
/// Hummingbird, whose requests are served from SwiftNIO's event loops, so health answers while
/// every worker task is busy.
///
/// Once ``beginDraining()`` is called (``WorkerProcess`` calls it when graceful shutdown
/// starts), readiness fails with the check `shutdown`, while liveness and metrics keep
/// answering until the server itself is stopped, last.
public final class HealthServer: Service, Sendable {
    /// The name of the check that fails once the process is shutting down.
    public static let drainingCheckName = "shutdown"

    /// The address it was asked to bind (`port` 0: the kernel picks one; see ``boundPort()``).
    public let host: String
    public let port: Int
    private let checks: [ReadinessCheck]
    private let registry: PrometheusCollectorRegistry
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var port: Int?
        var finished: (any Error)?
        var waiters: [CheckedContinuation<Int, any Error>] = []
        var draining = false
    }

    /// Thrown to ``boundPort()`` waiters when the server stopped without binding.
    public struct NotRunning: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { "the health server is not running: \(reason)" }
    }

    /// - Parameters:
    ///   - checks: conditions for `/health/ready`; with none, ready means "running".
    ///   - registry: what `/metrics` serves.
    public init(
        host: String, port: Int, checks: [ReadinessCheck], registry: PrometheusCollectorRegistry,
        logger: Logger = Logger(label: "sampark.http")
    ) {
        self.host = host
        self.port = port
        self.checks = checks
        self.registry = registry
        self.logger = logger
    }

    /// On the address from ``WorkerSettings/httpHost`` and ``WorkerSettings/httpPort``.
    public convenience init(
        settings: WorkerSettings, checks: [ReadinessCheck], registry: PrometheusCollectorRegistry,
        logger: Logger = Logger(label: "sampark.http")
    ) {
        self.init(host: settings.httpHost, port: settings.httpPort, checks: checks, registry: registry, logger: logger)
    }

    /// Serves until graceful shutdown or cancellation.
    public func run() async throws {
        let router = Router()
        router.get("/health/live") { _, _ in
            Self.json(.ok, #"{"status":"live"}"#)
        }
        router.get("/health/ready") { [self] _, _ in
            await self.readinessResponse()
        }
        router.get("/metrics") { [registry] _, _ in
            var headers = HTTPFields()
            headers[.contentType] = SamparkMetrics.contentType
            return Response(
                status: .ok, headers: headers,
                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { [self] channel in
                self.didBind(port: channel.localAddress?.port ?? self.port)
            },
            logger: logger
        )
        do {
            try await app.run()
            finish(NotRunning(reason: "it has stopped"))
        } catch {
            finish(error)
            throw error
        }
    }

    /// The port the server listens on, once it does: waits until then. With `port` 0 this is
    /// the one the kernel picked. Throws if the server stops (or fails to bind) first.
    public func boundPort() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            let result: Result<Int, any Error>? = state.withLock { state in
                if let port = state.port { return .success(port) }
                if let error = state.finished { return .failure(error) }
                state.waiters.append(continuation)
                return nil
            }
            if let result { continuation.resume(with: result) }
        }
    }

    /// Makes readiness fail (check `shutdown`) from now on: called when graceful shutdown
    /// starts, so a load balancer or orchestrator stops counting on this process while it drains.
    public func beginDraining() {
        state.withLock { $0.draining = true }
    }

    /// Runs every check (concurrently: one slow check does not delay the others) and reports.
    public func readiness() async -> (ready: Bool, results: [(name: String, passed: Bool)]) {
        let draining = state.withLock { $0.draining }
        var results = await withTaskGroup(of: (Int, Bool).self) { group in
            for (index, check) in checks.enumerated() {
                group.addTask { (index, await check.isReady()) }
            }
            var passed = [Bool](repeating: false, count: checks.count)
            for await (index, result) in group { passed[index] = result }
            return zip(checks, passed).map { (name: $0.name, passed: $1) }
        }
        if draining { results.append((name: Self.drainingCheckName, passed: false)) }
        return (results.allSatisfy(\.passed), results)
    }

    private func readinessResponse() async -> Response {
        let (ready, results) = await readiness()
        var body = ready ? #"{"status":"ready","# : #"{"status":"not ready","failing":["#
        if !ready {
            body += results.filter { !$0.passed }.map { Self.quoted($0.name) }.joined(separator: ",") + "],"
        }
        body += #""checks":{"#
        body += results.map { Self.quoted($0.name) + ":" + ($0.passed ? #""pass""# : #""fail""#) }
            .joined(separator: ",")
        body += "}}"
        return Self.json(ready ? .ok : .serviceUnavailable, body)
    }

    private func didBind(port: Int) {
        let waiters = state.withLock { state in
            state.port = port
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: port) }
        logger.info("health server listening", metadata: ["http_host": .string(host), "http_port": "\(port)"])
    }

    private func finish(_ error: any Error) {
        let waiters = state.withLock { state in
            if state.finished == nil { state.finished = error }
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(throwing: error) }
    }

    private static func quoted(_ text: String) -> String {
        var bytes: [UInt8] = []
        JSONText.appendString(text, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        // Health answers must never be cached by a proxy between the orchestrator and us.
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
