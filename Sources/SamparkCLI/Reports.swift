import ArgumentParser
import Foundation
import SamparkAMQP
import SamparkCore
import SamparkRuntime

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "report", abstract: "Daily reports.",
                                                    subcommands: [Request.self, Tail.self])

    /// Today in India Standard Time, `YYYY-MM-DD` (reports are by IST day), on the same clock
    /// as the dispatcher and the desks (a rehearsal's `SAMPARK_CLOCK_START` moves it).
    static var todayIST: String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Asia/Kolkata")!
        let parts = calendar.dateComponents([.year, .month, .day], from: (try? CallClock.shared())?.now() ?? Date())
        return String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
    }

    struct Request: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Ask the reporter for a day's report.")
        @Option(help: "The day (IST), YYYY-MM-DD; default today.") var day: String?
        @Option(help: "The org unit (code) to report on; default the whole tree.") var scope: String?
        @OptionGroup var servers: ServerOptions

        func run() async throws {
            let amqp = try await servers.connect(name: "report request")
            defer { Task { await amqp.close() } }
            let day = day ?? ReportCommand.todayIST
            try await amqp.publish(outgoing(ReportRequest(day: day, scope: scope), exchange: Topology.reportsExchange,
                                            routingKey: "report.request"))
            say("requested the daily report for \(day)\(scope.map { " (\($0))" } ?? "")")
        }
    }

    /// Binds a queue of its own to the report exchange (as a state IT team would) and prints
    /// the reports that arrive.
    struct Tail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print daily reports as they are published.")
        @Option(help: "Routing key pattern.") var pattern = "report.daily.#"
        @Option(help: "Stop after this many reports (0: never).") var count = 0
        @Flag(help: "Print the report's JSON as published.") var json = false
        @OptionGroup var servers: ServerOptions

        func run() async throws {
            let amqp = try await servers.connect(name: "report tail")
            defer { Task { await amqp.close() } }
            let queue = "sampark.cli.reports.\(UUID().uuidString.lowercased())"
            try await amqp.declare(QueueDeclaration(name: queue, durable: false, exclusive: true, autoDelete: true))
            try await amqp.bind(QueueBinding(queue: queue, exchange: Topology.reportsExchange, routingKey: pattern))
            say("waiting for reports on \(Topology.reportsExchange) \(pattern)")
            var seen = 0
            for try await delivery in try await amqp.consume(queue: queue, prefetch: 10) {
                try delivery.ack()
                if json {
                    say(delivery.bodyString)
                } else if let report = try? MessageCoding.decode(DailyReport.self, from: delivery.body) {
                    say(Self.render(report))
                }
                seen += 1
                if count > 0 && seen >= count { break }
            }
        }

        static func render(_ report: DailyReport) -> String {
            func row(_ name: String, _ c: DailyReport.Counts) -> String {
                let other = c.callBack + c.refused + c.languageBarrier
                return "\(name.padding(toLength: 28, withPad: " ", startingAt: 0)) \(c.attempts)\t\(c.connected)\t\(c.noAnswer)\t\(c.busy)\t"
                    + "\(c.switchedOff + c.notReachable)\t\(c.wrongNumber)\t\(c.optedOut)\t\(other)\t\(c.voted)"
            }
            var lines = ["daily report \(report.day), \(report.scope)",
                         "centre / campaign             calls\tconn\tno-ans\tbusy\tunreach\twrong\topt-out\tother\tvoted"]
            for r in report.rows { lines.append(row("\(r.centre) / \(r.kind.rawValue)", r.counts)) }
            lines.append(row("total", report.totals))
            if !report.refusals.isEmpty {
                lines.append("refused by the lawful-calling gates: "
                             + report.refusals.map { "\($0.reason) \($0.calls)" }.joined(separator: ", "))
            }
            return lines.joined(separator: "\n")
        }
    }
}
