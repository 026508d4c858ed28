import Foundation
import IngestWorker
import SamparkRuntime
import SamparkWorker

// ingest-worker: applies the batches `sampark load` sends (ingest.batch.v1) and reports each
// load (ingest.completed.v1); stores turnout marks (turnout.mark.v1) and the central team's
// campaign material (material.published.v1) as they arrive; erases a number on the central
// team's request (erasure.request.v1). It hashes and seals every phone number it stores, with
// SAMPARK_PHONE_KEYS and SAMPARK_PHONE_HASH_KEY (docs/security.md).
await WorkerMain.run(name: "ingest-worker", defaultHTTPPort: 8081, queue: Topology.ingestBatches, usesPhoneKeys: true,
                     parts: { context in
                         let vault = context.phoneVault!
                         return .init(handlers: [IngestBatchHandler(vault: vault), TurnoutMarkHandler(), MaterialHandler(),
                                                 ErasureRequestHandler(vault: vault)])
                     })
