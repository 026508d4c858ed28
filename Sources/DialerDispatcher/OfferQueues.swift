import Foundation
import Logging
import SamparkAMQP
import SamparkPostgres
import SamparkRuntime
import ServiceLifecycle
import Synchronization

/// Keeps the offer queues (`call.offer.<centre>` for the desks, `call.offer.<centre>.gateway`
/// for a telephony gateway; quorum queues bound to `sampark.calls` by their own names) declared
/// for every call centre in the database: at start, every `interval`, and at once when asked.
public final class OfferQueues: Service, Sendable {
    private let amqp: AMQPConnection
    private let pool: PostgresPool
    private let interval: Duration
    private let logger: Logger
    private let declared = Mutex<Set<String>>([])
    private let wakeUp: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>

    public init(amqp: AMQPConnection, pool: PostgresPool, interval: Duration = .seconds(10), logger: Logger) {
        self.amqp = amqp
        self.pool = pool
        self.interval = interval
        self.logger = logger
        (wakes, wakeUp) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    public func isDeclared(_ centre: String) -> Bool { declared.withLock { $0.contains(centre) } }

    public func requestRefresh() { wakeUp.yield() }

    /// Declares the queues of centres not declared yet.
    public func refresh() async throws {
        let centres = try await pool.query("SELECT code FROM call_centres ORDER BY code").map { try $0.decode(String.self, at: 0) }
        for centre in centres where !isDeclared(centre) {
            // The desks' queue and the gateway's, as `sampark topology --describe` lists them.
            try await Topology.apply(Topology.offerQueueSteps(centre: centre), on: amqp)
            logger.info("offer queues declared", metadata: ["centre": "\(centre)"])
            declared.withLock { _ = $0.insert(centre) }
        }
    }

    public func run() async throws {
        let ticker = Task { [interval, wakeUp] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                wakeUp.yield()
            }
        }
        defer { ticker.cancel() }
        try? await refresh()
        for await _ in wakes.cancelOnGracefulShutdown() {
            do { try await refresh() } catch { logger.warning("could not declare offer queues", metadata: ["error": "\(error)"]) }
        }
    }
}
