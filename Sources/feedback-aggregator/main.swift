import FeedbackAggregator
import SamparkRuntime
import SamparkWorker

// feedback-aggregator: records every call outcome (call.outcome.v1) exactly once and keeps
// the day's aggregates.
await WorkerMain.run(name: "feedback-aggregator", defaultHTTPPort: 8084, queue: Topology.callOutcomes,
                     parts: { _ in .init(handlers: [CallOutcomeHandler()]) })
