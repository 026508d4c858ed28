import ArgumentParser
import Foundation
import SamparkAMQP
import SamparkRuntime

/// `sampark topology`: declares every exchange and work queue (workers declare what they use
/// at start too; this is for ops, and for state IT teams who bind before any worker runs).
///
/// `sampark topology --describe` prints the same declarations as JSON and connects to nothing:
/// `scripts/check-static.sh` compares deploy/rabbitmq/definitions.json and schemas/asyncapi.yaml
/// with it, so neither can drift from what the code declares.
struct TopologyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "topology", abstract: "Declare the broker topology.")
    @OptionGroup var servers: ServerOptions
    @Flag(help: "Print the topology as JSON (exchanges, queues with their arguments, bindings) without connecting to a broker.")
    var describe = false

    func run() async throws {
        if describe {
            FileHandle.standardOutput.write(try TopologyDescription.json())
            return
        }
        try await servers.withConnection(name: "topology") { amqp in try await Topology.declare(Topology.workQueues, on: amqp) }
        say("declared \(Topology.exchanges.count) exchanges and \(Topology.workQueues.count) work queues")
        for queue in Topology.workQueues {
            say("  \(queue.name) <- " + queue.bindings.map { "\($0.exchange) \($0.routingKey)" }.joined(separator: ", "))
        }
    }
}

/// The machine-readable topology: the steps `Topology.declare` applies for every work queue, in
/// order, then the per-centre offer queues with `{centre}` standing for a centre's code.
enum TopologyDescription {
    static let centrePlaceholder = "{centre}"

    static func json() throws -> Data {
        let retry = RetryPolicy.default
        let document: [String: Any] = [
            "steps": Topology.plan(Topology.workQueues, retry: retry).map(step),
            "work_queues": Topology.workQueues.map { queue -> [String: Any] in
                [
                    "name": queue.name,
                    "dead_queue": queue.deadQueue,
                    "delay_queues": (1...retry.delays.count).map { RetryPolicy.delayQueue(for: queue.name, retry: $0) },
                    "bindings": queue.bindings.map { ["exchange": $0.exchange, "routing_key": $0.routingKey] },
                ]
            },
            "offer_queue_steps": Topology.offerQueueSteps(centre: centrePlaceholder).map(step),
            "dead_letter_exchange": Topology.deadLetterExchange,
            "unroutable_queue": Topology.unroutableRoutingKey,
            "delivery_limit": Topology.deliveryLimit,
        ]
        var data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
        data.append(0x0A)
        return data
    }

    private static func step(_ step: Topology.Step) -> [String: Any] {
        switch step {
        case .exchange(let exchange):
            return ["exchange": ["name": exchange.name, "type": exchange.kind.rawValue, "durable": exchange.durable,
                                 "auto_delete": exchange.autoDelete, "internal": exchange.isInternal,
                                 "arguments": table(exchange.arguments)]]
        case .queue(let queue):
            return ["queue": ["name": queue.name, "durable": queue.durable, "exclusive": queue.exclusive,
                              "auto_delete": queue.autoDelete, "arguments": table(queue.arguments)]]
        case .binding(let binding):
            return ["binding": ["queue": binding.queue, "exchange": binding.exchange, "routing_key": binding.routingKey,
                                "arguments": table(binding.arguments)]]
        }
    }

    private static func table(_ table: [String: AMQPFieldValue]) -> [String: Any] {
        table.mapValues(value)
    }

    /// JSON for an AMQP field value; what RabbitMQ's definitions hold for the same argument.
    private static func value(_ field: AMQPFieldValue) -> Any {
        switch field {
        case .string(let s): return s
        case .int(let i): return i
        case .bool(let b): return b
        case .double(let d): return d
        case .bytes(let b): return String(decoding: b, as: UTF8.self)
        case .timestamp(let t): return t
        case .array(let a): return a.map(value)
        case .table(let t): return table(t)
        case .void: return NSNull()
        }
    }
}
