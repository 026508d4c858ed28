import Reporter
import SamparkRuntime
import SamparkWorker

// reporter: answers report.request.v1 with the day's report (report.daily.v1) on the report
// exchange, where state IT teams bind their queues.
await WorkerMain.run(name: "reporter", defaultHTTPPort: 8085, queue: Topology.reportRequests,
                     parts: { _ in .init(handlers: [ReportRequestHandler()]) })
