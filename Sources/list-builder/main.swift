import Foundation
import ListBuilder
import SamparkRuntime
import SamparkWorker

// list-builder: turns list.build.v2 requests into call lists and announces list.ready.v2.
// A build keeps its audience and placement in temporary tables (docs/lists.md); temp_buffers
// (the session's memory for them, allocated only as used) holds a million-entry build's.
await WorkerMain.run(name: "list-builder", defaultHTTPPort: 8082, queue: Topology.listRequests,
                     sessionSettings: ["temp_buffers": "512MB"],
                     parts: { _ in
                         // The secret of the keyed hash that keeps erased numbers off the lists.
                         let key = ProcessInfo.processInfo.environment["SAMPARK_PHONE_HASH_KEY"].flatMap { $0.isEmpty ? nil : $0 }
                         return .init(handlers: [ListBuildHandler(phoneHashKey: key)])
                     })
