import ArgumentParser
import SamparkRuntime

/// `sampark topology`: declares every exchange and work queue (workers declare what they use
/// at start too; this is for ops, and for state IT teams who bind before any worker runs).
struct TopologyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "topology", abstract: "Declare the broker topology.")
    @OptionGroup var servers: ServerOptions

    func run() async throws {
        let amqp = try await servers.connect(name: "topology")
        defer { Task { await amqp.close() } }
        try await Topology.declare(Topology.workQueues, on: amqp)
        say("declared \(Topology.exchanges.count) exchanges and \(Topology.workQueues.count) work queues")
        for queue in Topology.workQueues {
            say("  \(queue.name) <- " + queue.bindings.map { "\($0.exchange) \($0.routingKey)" }.joined(separator: ", "))
        }
    }
}
