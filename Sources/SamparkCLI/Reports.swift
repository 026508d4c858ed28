import ArgumentParser
import Foundation
import SamparkAMQP
import SamparkCore
import SamparkRuntime

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "report", abstract: "Daily reports and constituency dossiers.",
                                                    subcommands: [Request.self, Dossier.self, Tail.self])

    /// Today in India Standard Time, `YYYY-MM-DD` (reports are by IST day), on the same clock
    /// as the dispatcher and the desks (a rehearsal's `SAMPARK_CLOCK_START` moves it).
    static var todayIST: String { IST.day(of: (try? CallClock.shared())?.now() ?? Date()) }

    /// Publishes `request` with a reply queue of this command's own and hands each answer to
    /// `body`; a refusal is an error naming the reporter's reason.
    static func ask(_ request: ReportRequest, servers: ServerOptions, timeout: Double, what: String,
                    _ body: @escaping (Delivery) throws -> Bool) async throws {
        try await servers.withConnection(name: "report request") { amqp in
            try await ask(request, on: amqp, purpose: servers.resolvedPurpose, timeout: timeout, what: what, body)
        }
    }

    private static func ask(_ request: ReportRequest, on amqp: AMQPConnection, purpose: String?, timeout: Double, what: String,
                            _ body: @escaping (Delivery) throws -> Bool) async throws {
        let messageID = UUID().uuidString.lowercased()
        let (replyQueue, answers) = try await replyConsumer(on: amqp, named: "sampark.cli.report.\(messageID)")
        try await amqp.publish(outgoing(request, exchange: Topology.reportsExchange, routingKey: "report.request",
                                        messageID: messageID, correlationID: messageID, replyTo: replyQueue,
                                        purpose: purpose))
        guard let answers else { return }
        var refusal: String?
        try await awaitAnswers(from: answers, seconds: timeout, what: what) { delivery in
            try delivery.ack()
            if delivery.properties.type == RequestRejected.messageType,
               let rejected = try? MessageCoding.decode(RequestRejected.self, from: delivery.body) {
                refusal = rejected.reason
                return true
            }
            return try body(delivery)
        }
        try await answers.cancel()
        if let refusal {
            FileHandle.standardError.write(Data("error: the reporter refused the request for \(what): \(refusal)\n".utf8))
            throw ExitCode.failure
        }
    }

    struct Request: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask the reporter for a day's report, and print it.",
            discussion: "The report is also published on sampark.reports (report.daily.<state>.<district>, report.daily.<state>.all, report.daily.national) for the consumers bound there.")
        @Option(help: "The day (IST), YYYY-MM-DD; default today.") var day: String?
        @Option(help: "The org unit (code) to report on (a district, a state); default the nation.") var scope: String?
        @Flag(help: "Every district's report, each state's and the nation's, as at the set time.") var all = false
        @Flag(help: "Print the report as CSV.") var csv = false
        @Flag(help: "Print the report's JSON as published.") var json = false
        @Flag(help: "Publish the request and do not wait for the report.") var noWait = false
        @Option(help: "Give up after this many seconds.") var timeout = 120.0
        @OptionGroup var servers: ServerOptions

        func run() async throws {
            let request = ReportRequest(kind: .daily, day: day ?? ReportCommand.todayIST, scope: scope, all: all ? true : nil)
            let what = "the daily report for \(request.day!)\(scope.map { " (\($0))" } ?? "")"
            if noWait {
                try await servers.withConnection(name: "report request") { amqp in
                    try await amqp.publish(outgoing(request, exchange: Topology.reportsExchange, routingKey: "report.request",
                                                    purpose: servers.resolvedPurpose))
                }
                say("requested \(what)")
                return
            }
            try await ReportCommand.ask(request, servers: servers, timeout: timeout, what: what) { delivery in
                if all, let set = try? MessageCoding.decode(ReportsPublished.self, from: delivery.body) {
                    say("published \(set.reports.count) reports for \(set.day): \(set.reports.joined(separator: ", "))")
                    return true
                }
                guard let report = try? MessageCoding.decode(DailyReport.self, from: delivery.body) else { return false }
                say(json ? delivery.bodyString : csv ? ReportRendering.csv(report) : ReportRendering.text(report))
                return true
            }
        }
    }

    struct Dossier: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The war room's dossier of an assembly constituency.")
        @Option(help: "The constituency (its unit code).") var constituency: String
        @Option(help: "The past election to weigh; default the latest with results there.") var election: String?
        @Option(help: "The party whose results are weighed; default the reporter's SAMPARK_PARTY.") var party: String?
        @Option(help: "Office-bearers and workers to print (all are in the JSON).") var people = 20
        @Flag(help: "Print the dossier's JSON as published.") var json = false
        @Option(help: "Give up after this many seconds.") var timeout = 120.0
        @OptionGroup var servers: ServerOptions

        func run() async throws {
            let request = ReportRequest(kind: .dossier, day: ReportCommand.todayIST, constituency: constituency, election: election, party: party)
            try await ReportCommand.ask(request, servers: servers, timeout: timeout, what: "the dossier of \(constituency)") { delivery in
                guard let dossier = try? MessageCoding.decode(ConstituencyDossier.self, from: delivery.body) else { return false }
                say(json ? delivery.bodyString : ReportRendering.text(dossier, people: people))
                return true
            }
        }
    }

    /// Binds a queue of its own to the report exchange (as a state IT team would) and prints
    /// the reports that arrive.
    struct Tail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print reports as they are published.")
        @Option(help: "Routing key pattern (report.daily.MP.#: one state's).") var pattern = "report.daily.#"
        @Option(help: "Stop after this many reports (0: never).") var count = 0
        @Flag(help: "Print the report's JSON as published.") var json = false
        @OptionGroup var servers: ServerOptions

        func run() async throws {
            try await servers.withConnection(name: "report tail") { amqp in try await tail(on: amqp) }
        }

        private func tail(on amqp: AMQPConnection) async throws {
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
                    say(ReportRendering.text(report) + "\n")
                } else if let dossier = try? MessageCoding.decode(ConstituencyDossier.self, from: delivery.body) {
                    say(ReportRendering.text(dossier) + "\n")
                } else {
                    say("\(delivery.properties.type ?? "a message") on \(delivery.routingKey)")
                }
                seen += 1
                if count > 0 && seen >= count { break }
            }
        }
    }
}
