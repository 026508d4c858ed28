import ListBuilder
import SamparkRuntime
import SamparkWorker

// list-builder: turns list.build.v1 requests into call lists and announces list.ready.v1.
await WorkerMain.run(name: "list-builder", defaultHTTPPort: 8082, queue: Topology.listRequests,
                     parts: { _ in .init(handlers: [ListBuildHandler()]) })
