import IngestWorker
import SamparkRuntime
import SamparkWorker

// ingest-worker: applies the batches `sampark load` sends (ingest.batch.v1) and reports each
// load (ingest.completed.v1); stores turnout marks (turnout.mark.v1) and the central team's
// campaign material (material.published.v1) as they arrive.
await WorkerMain.run(name: "ingest-worker", defaultHTTPPort: 8081, queue: Topology.ingestBatches,
                     parts: { _ in .init(handlers: [IngestBatchHandler(), TurnoutMarkHandler(), MaterialHandler()]) })
