import DialerDispatcher
import Foundation
import SamparkRuntime
import SamparkServer
import SamparkWorker

// dialer-dispatcher: keeps each centre's offers (call.offer.v2) at its available agents times
// the campaign's pacing, lawfully at the moment of dispatch; settles attempts from outcomes
// (call.outcome.v2), follows agents' presence (agent.presence.v1), and keeps the centres'
// offer queues declared. docs/dispatch.md.
let settings = readSettingsOrExit { try DispatchSettings(reader: SettingsReader()) }
let refresh = Double(ProcessInfo.processInfo.environment["SAMPARK_OFFER_QUEUE_REFRESH"] ?? "") ?? 10
// Its relay opens the sealed numbers of telephony gateways' offers as it publishes them
// (SAMPARK_PHONE_KEYS).
await WorkerMain.run(name: "dialer-dispatcher", defaultHTTPPort: 8083, queue: Topology.dispatcherEvents, usesPhoneKeys: true,
                     parts: { context in
    let offerQueues = OfferQueues(amqp: context.amqp, pool: context.pool, interval: .milliseconds(Int(refresh * 1000)),
                                  logger: context.logger)
    let metrics = DispatchMetrics(registry: context.registry)
    let dispatcher = Dispatcher(settings: settings, pool: context.pool, relay: context.relay, offerQueues: offerQueues,
                                logger: context.logger, observer: DispatchObserver(
                                    offered: { metrics.offered(centre: $0, count: $1) },
                                    refused: { metrics.refused(reason: $0, count: $1) },
                                    liveOffers: { metrics.liveOffers($0) }),
                                backlog: {
                                    // Unknown (the broker away) counts as waiting: reclaim later.
                                    guard let info = try? await context.amqp.inspectQueue(Topology.dispatcherEvents.name) else { return 1 }
                                    return Int(info.messageCount)
                                })
    return .init(handlers: [ListReadyHandler(dispatcher: dispatcher), AgentPresenceHandler(dispatcher: dispatcher),
                            OutcomeHandler(dispatcher: dispatcher)],
                 services: [offerQueues, dispatcher])
})
