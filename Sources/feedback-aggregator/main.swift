import FeedbackAggregator
import SamparkRuntime
import SamparkWorker

// feedback-aggregator: records every call outcome (call.outcome.v2) exactly once and keeps
// the aggregates, up to 500 outcomes per transaction (docs/feedback.md). It prefetches enough
// for its handlers to fill their batches.
await WorkerMain.run(name: "feedback-aggregator", defaultHTTPPort: 8084, queue: Topology.callOutcomes,
                     defaultPrefetch: 1000, batchSize: 500,
                     parts: { _ in .init(batchHandlers: [CallOutcomeHandler()]) })
