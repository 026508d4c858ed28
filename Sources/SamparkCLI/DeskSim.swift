import ArgumentParser
import Foundation
import SamparkAMQP
import SamparkCore
import SamparkRuntime

/// `sampark desk-sim`: plays a centre's agents. It takes the calls offered to the centre,
/// "makes" each one with an outcome that follows from the entry id (so a test can tell what
/// the report must say), publishes the outcome, and acks the offer after the outcome is
/// confirmed. Prints the outcomes it reported.
struct DeskSim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "desk-sim", abstract: "Play a call centre's agents.")

    @Option(help: "The centre (code) whose offers to take.") var centre: String
    @Option(help: "Stop after this many calls (0: when no offer came for --idle seconds).") var count = 0
    @Option(help: "Seconds without an offer after which to stop (with --count 0).") var idle = 5.0
    @Option(help: "Agents (names agent-1 ...).") var agents = 3
    @OptionGroup var servers: ServerOptions

    /// The outcome for an entry: deterministic, and covering every kind.
    static func result(for entryID: Int64) -> CallResult {
        switch entryID % 10 {
        case 0, 1, 2, 3, 4, 5: return .connected
        case 6, 7: return .noAnswer
        case 8: return .busy
        default: return .wrongNumber
        }
    }

    func run() async throws {
        let amqp = try await servers.connect(name: "desk-sim \(centre)")
        defer { Task { await amqp.close() } }
        let queue = Topology.offerQueue(centre: centre)
        try await amqp.declare(QueueDeclaration.quorum(queue))
        try await amqp.bind(QueueBinding(queue: queue, exchange: Topology.callsExchange, routingKey: queue))
        let offers = try await amqp.consume(queue: queue, prefetch: 50)
        var tally: [CallResult: Int] = [:]
        var done = 0
        // With --count 0 the run ends once offers stop coming for --idle seconds.
        _ = try await readUntilIdle(from: offers, idleSeconds: count == 0 ? idle : nil) { delivery in
            guard let offer = try? MessageCoding.decode(CallOffer.self, from: delivery.body) else {
                try delivery.reject(requeue: false)
                return false
            }
            let result = Self.result(for: offer.entryID)
            let started = Date()
            let outcome = CallOutcome(entryID: offer.entryID, centre: offer.centre, agent: "agent-\(1 + Int(offer.entryID) % max(1, agents))",
                                      result: result, hasVoted: offer.kind == .getOutTheVote && result == .connected ? true : nil,
                                      feedback: result == .connected ? "spoke to the person" : nil,
                                      startedAt: started, endedAt: started.addingTimeInterval(60))
            // One outcome per offer, even if this desk dies between publishing and acking.
            let id = "outcome-of-\(delivery.properties.messageID ?? "entry-\(offer.entryID)")"
            try await amqp.publish(outgoing(outcome, exchange: Topology.callsExchange, routingKey: "call.outcome", messageID: id))
            try delivery.ack()
            tally[result, default: 0] += 1
            done += 1
            return count > 0 && done >= count
        }
        try? await offers.cancel()
        let summary = CallResult.allCases.map { "\($0.rawValue) \(tally[$0, default: 0])" }.joined(separator: ", ")
        say("desk \(centre): \(done) calls: \(summary)")
    }
}
