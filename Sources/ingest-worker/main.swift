import IngestWorker
import SamparkRuntime
import SamparkWorker

// ingest-worker: stores the rows `sampark load` sends (ingest.batch.v1) and answers with
// what it accepted and rejected (ingest.completed.v1).
await WorkerMain.run(name: "ingest-worker", defaultHTTPPort: 8081, queue: Topology.ingestBatches,
                     parts: { _ in .init(handlers: [IngestBatchHandler()]) })
