import DialerDispatcher
import Foundation
import SamparkRuntime
import SamparkWorker

// dialer-dispatcher: offers the calls of each ready list (list.ready.v1) to its centres'
// offer queues (call.offer.v1), which it keeps declared.
let refresh = Double(ProcessInfo.processInfo.environment["SAMPARK_OFFER_QUEUE_REFRESH"] ?? "") ?? 10
let offerQueues = OfferQueuesBox()
await WorkerMain.run(
    name: "dialer-dispatcher", defaultHTTPPort: 8083, queue: Topology.readyLists,
    handlers: { context in [ListReadyHandler(offerQueues: offerQueues.make(context, refresh: refresh))] },
    services: { context in [offerQueues.make(context, refresh: refresh)] })
