import DialerDispatcher
import Foundation
import SamparkRuntime
import SamparkWorker

// dialer-dispatcher: offers the calls of each ready list (list.ready.v1) to its centres'
// offer queues (call.offer.v1), which it keeps declared.
let refresh = Double(ProcessInfo.processInfo.environment["SAMPARK_OFFER_QUEUE_REFRESH"] ?? "") ?? 10
await WorkerMain.run(name: "dialer-dispatcher", defaultHTTPPort: 8083, queue: Topology.readyLists, parts: { context in
    // One OfferQueues: the service keeps the queues declared, the handler asks it.
    let offerQueues = OfferQueues(amqp: context.amqp, pool: context.pool, interval: .milliseconds(Int(refresh * 1000)),
                                  logger: context.logger)
    return .init(handlers: [ListReadyHandler(offerQueues: offerQueues)], services: [offerQueues])
})
