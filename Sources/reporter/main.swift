import Reporter
import SamparkRuntime
import SamparkServer
import SamparkWorker

// reporter: answers report.request.v2 with daily reports (report.daily.v2) and constituency
// dossiers (report.dossier.v1) on the report exchange, where state IT teams bind their queues,
// and publishes every district's, state's and the nation's daily report at the set time.
// docs/reports.md.
let settings = readSettingsOrExit { try ReportSettings(reader: SettingsReader()) }
await WorkerMain.run(name: "reporter", defaultHTTPPort: 8085, queue: Topology.reportRequests, parts: { context in
    .init(handlers: [ReportRequestHandler(settings: settings)],
          services: [ReportSchedule(settings: settings, pool: context.pool, relay: context.relay, logger: context.logger)])
})
