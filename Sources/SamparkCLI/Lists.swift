import ArgumentParser
import Foundation
import SamparkAMQP
import SamparkCore
import SamparkRuntime

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Call lists.",
                                                    subcommands: [Build.self])

    /// `sampark list build <spec.json>`: sends the request (a `list.build.v2` body; see
    /// docs/lists.md and samples/lists/) to the list-builder; with `--wait`, prints the list it
    /// built or why it refused.
    struct Build: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Request a campaign's call list.",
            discussion: "The file is a list.build.v2 request (docs/lists.md, samples/lists/). Without request_id in the file, --request-id or a new id is used: send the same id again to get the same list back, never a second one.")

        @Argument(help: "The request, as JSON.") var spec: String
        @Option(help: "The request id, when the file has none.") var requestID: String?
        @Flag(help: "Wait for the list-builder's answer.") var wait = false
        @Option(help: "With --wait: give up after this many seconds.") var timeout = 120.0
        @OptionGroup var servers: ServerOptions

        func run() async throws {
            let request = try Self.read(spec, requestID: requestID)
            try await servers.withConnection(name: "list build") { amqp in try await send(request, on: amqp) }
        }

        private func send(_ request: ListBuildRequest, on amqp: AMQPConnection) async throws {
            let messageID = UUID().uuidString.lowercased()
            let (replyQueue, answers) = wait ? try await replyConsumer(on: amqp, named: "sampark.cli.list.\(messageID)") : (nil, nil)
            try await amqp.publish(outgoing(request, exchange: Topology.listsExchange, routingKey: "list.build",
                                            messageID: messageID, correlationID: messageID, replyTo: replyQueue,
                                            purpose: servers.resolvedPurpose))
            say("requested a \(request.kind.rawValue) list for campaign \(request.campaign.code) (scope \(request.audience.scope)), request \(request.requestID)")
            guard let answers else { return }
            var refusal: String?
            try await awaitAnswers(from: answers, seconds: timeout, what: "request \(request.requestID)") { delivery in
                try delivery.ack()
                if delivery.properties.type == RequestRejected.messageType,
                   let rejected = try? MessageCoding.decode(RequestRejected.self, from: delivery.body) {
                    refusal = rejected.reason
                    return true
                }
                guard let ready = try? MessageCoding.decode(ListReady.self, from: delivery.body) else { return false }
                Self.print(ready)
                return true
            }
            try await answers.cancel()
            if let refusal {
                FileHandle.standardError.write(Data("error: the list-builder refused request \(request.requestID): \(refusal)\n".utf8))
                throw ExitCode.failure
            }
        }

        /// Reads and checks the request file: its errors name the file and the field.
        static func read(_ path: String, requestID: String?) throws -> ListBuildRequest {
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("\(path): cannot be read") }
            guard var object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
                throw ValidationError("\(path): is not a JSON object")
            }
            if object["request_id"] == nil { object["request_id"] = requestID ?? UUID().uuidString.lowercased() }
            let body = try JSONSerialization.data(withJSONObject: object)
            do {
                return try MessageCoding.decode(ListBuildRequest.self, from: Array(body))
            } catch {
                throw ValidationError("\(path): \(describeDecodingFailure(error))")
            }
        }

        static func print(_ ready: ListReady) {
            func line(_ counts: [ListReady.Count]) -> String {
                counts.isEmpty ? "none" : counts.map { "\($0.name) \($0.count)" }.joined(separator: ", ")
            }
            say("list \(ready.listID) (campaign \(ready.campaign), \(ready.kind.rawValue)): \(ready.entries) calls of \(ready.audience) chosen; hash \(ready.hash)")
            say("  by centre: \(line(ready.centres))")
            say("  left out: \(line(ready.suppressed))")
            if !ready.uncovered.isEmpty { say("  no centre covers: \(line(ready.uncovered))") }
            if let short = ready.shortCommittees, let total = ready.shortCommitteesTotal, total > 0 {
                say("  committees short of people: \(total) (\(line(short)))")
            }
        }
    }
}
