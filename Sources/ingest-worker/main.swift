import Foundation
import IngestWorker
import SamparkRuntime
import SamparkWorker

// ingest-worker: applies the batches `sampark load` sends (ingest.batch.v1) and reports each
// load (ingest.completed.v1); stores turnout marks (turnout.mark.v1) and the central team's
// campaign material (material.published.v1) as they arrive; erases a number on the central
// team's request (erasure.request.v1, with SAMPARK_PHONE_HASH_KEY).
await WorkerMain.run(name: "ingest-worker", defaultHTTPPort: 8081, queue: Topology.ingestBatches,
                     parts: { _ in
                         let key = ProcessInfo.processInfo.environment["SAMPARK_PHONE_HASH_KEY"].flatMap { $0.isEmpty ? nil : $0 }
                         return .init(handlers: [IngestBatchHandler(), TurnoutMarkHandler(), MaterialHandler(),
                                                 ErasureRequestHandler(phoneHashKey: key)])
                     })
