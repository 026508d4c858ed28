import ArgumentParser
import Foundation
import SamparkAMQP
import SamparkCore
import SamparkRuntime

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Call lists.",
                                                    subcommands: [Build.self])

    /// `sampark list build`: asks the list-builder for a campaign's list; with `--wait`, prints
    /// the list it built.
    struct Build: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Request a campaign's call list.")

        @Option(help: "The campaign's name.") var campaign: String
        @Option(help: "What the calls are for: \(CampaignKind.allCases.map(\.rawValue).joined(separator: ", ")).")
        var kind: String
        @Option(help: "The org unit (code) whose subtree the campaign covers.") var scope: String
        @Option(help: "Material (code) the callers relay.") var material: String?
        @Flag(help: "Wait for the list-builder's answer.") var wait = false
        @Option(help: "With --wait: give up after this many seconds.") var timeout = 60.0
        @OptionGroup var servers: ServerOptions

        func run() async throws {
            guard let kind = CampaignKind(rawValue: kind) else {
                throw ValidationError("unknown kind '\(kind)'; one of: \(CampaignKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let amqp = try await servers.connect(name: "list build")
            defer { Task { await amqp.close() } }
            let requestID = UUID().uuidString.lowercased()
            let (replyQueue, answers) = wait ? try await replyConsumer(on: amqp, named: "sampark.cli.list.\(requestID)") : (nil, nil)
            let request = ListBuildRequest(campaignName: campaign, kind: kind, scope: scope, material: material)
            try await amqp.publish(outgoing(request, exchange: Topology.listsExchange, routingKey: "list.build",
                                            messageID: requestID, correlationID: requestID, replyTo: replyQueue))
            say("requested the list for campaign '\(campaign)' (\(kind.rawValue), scope \(scope)), request \(requestID)")
            guard let answers else { return }
            try await awaitAnswers(from: answers, seconds: timeout, what: "the list for '\(campaign)'") { delivery in
                try delivery.ack()
                guard let ready = try? MessageCoding.decode(ListReady.self, from: delivery.body) else { return false }
                let centres = ready.centres.map { "\($0.name) \($0.count)" }.joined(separator: ", ")
                let suppressed = ready.suppressed.map { "\($0.name) \($0.count)" }.joined(separator: ", ")
                say("list \(ready.listID): \(ready.entries) calls (\(centres.isEmpty ? "no centre" : centres)); left out: \(suppressed.isEmpty ? "none" : suppressed)")
                return true
            }
            try await answers.cancel()
        }
    }
}
