import Foundation
import ListBuilder
import SamparkRuntime
import SamparkWorker

// list-builder: turns list.build.v2 requests into call lists and announces list.ready.v2.
// A build keeps its audience and placement in temporary tables (docs/lists.md); temp_buffers
// (the session's memory for them, allocated only as used) holds a million-entry build's.
// It copies numbers as the ingest-worker stored them (hash, sealed, last digits) and needs
// no key.
await WorkerMain.run(name: "list-builder", defaultHTTPPort: 8082, queue: Topology.listRequests,
                     sessionSettings: ["temp_buffers": "512MB"],
                     parts: { _ in .init(handlers: [ListBuildHandler()]) })
