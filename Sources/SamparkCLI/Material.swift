import ArgumentParser
import Foundation
import SamparkAMQP
import SamparkCore
import SamparkRuntime

struct MaterialCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "material", abstract: "Campaign material.",
                                                    subcommands: [Publish.self])

    /// `sampark material publish FILE`: what the central team's own tools do with any AMQP
    /// client (docs/ingest.md): one JSON body on `sampark.material`, under a confirm.
    struct Publish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Publish campaign material (a JSON file) to every centre.")

        @Argument(help: "The material as JSON: id, version, title, scripts, questions, scope, valid_from, valid_to.")
        var file: String
        @OptionGroup var servers: ServerOptions

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
            let material: MaterialPublished
            do {
                material = try MessageCoding.decode(MaterialPublished.self, from: Array(data))
            } catch {
                throw ValidationError("\(file): \(describeDecodingFailure(error))")
            }
            try await servers.withConnection(name: "material publish") { amqp in
                try await amqp.publish(outgoing(material, exchange: Topology.materialExchange, routingKey: "material.\(material.id)"))
            }
            say("published \(material.id) version \(material.version) to \(Topology.materialExchange) (stored once per id and version)")
        }
    }
}

/// A command that could not do its work: exit status 1 with the reason (a usage mistake is a
/// `ValidationError`, exit 64).
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
