import SamparkWorker
import Synchronization

/// The one `OfferQueues` of a dialer-dispatcher process, made on first use from the worker's
/// connections (the handler and the service must share it).
public final class OfferQueuesBox: Sendable {
    private let made = Mutex<OfferQueues?>(nil)
    public init() {}

    public func make(_ context: WorkerMain.Context, refresh seconds: Double) -> OfferQueues {
        made.withLock { made in
            if let made { return made }
            let queues = OfferQueues(amqp: context.amqp, pool: context.pool, interval: .milliseconds(Int(seconds * 1000)),
                                     logger: context.logger)
            made = queues
            return queues
        }
    }
}
