import Foundation
import Testing
import SamparkAMQP
import SamparkRuntime
import SamparkTestSupport

/// The outside parties' RabbitMQ users, with exactly the permissions that
/// `deploy/rabbitmq/definitions.py` writes for them (add-centre, add-state), on the real
/// broker: a centre's desks read only their own offer queue (not another centre's, nor their
/// own gateway's full numbers) and publish only outcomes and presence, as themselves; a
/// state's IT consumer reads only its own state's reports and publishes nothing.
@Suite struct BrokerPermissionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let password = "broker-boundary-password"
    static let users = ["centre-drg-01", "centre-drg-01-gateway", "centre-cdw-01", "centre-cdw-01-gateway", "state-it-mp", "state-it-cg"]

    /// The definitions the operator's tool writes for two centres and two states.
    func definitions(in directory: URL, cluster: Cluster) async throws -> [String: Any] {
        let file = directory.appendingPathComponent("definitions.json")
        try? FileManager.default.removeItem(at: file)
        try FileManager.default.copyItem(at: Self.root.appendingPathComponent("deploy/rabbitmq/definitions.json"), to: file)
        for arguments in [["add-centre", "DRG-01"], ["add-centre", "CDW-01"], ["add-state", "CG"]] {
            let run = try await cluster.run(URL(fileURLWithPath: "/usr/bin/env"),
                                            ["python3", Self.root.appendingPathComponent("deploy/rabbitmq/definitions.py").path,
                                             "--definitions", file.path] + arguments)
            guard run.status == 0 else { throw ClusterError("definitions.py \(arguments): \(run.output)") }
        }
        return try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
    }

    /// Creates the users in the cluster's vhost with the file's permissions, and declares
    /// their queues and bindings as the operator would (the file's own queue arguments).
    func apply(_ definitions: [String: Any], cluster: Cluster, admin: AMQPConnection) async throws {
        for user in Self.users {
            try? TestEnvironment.services("rabbitmqctl", "-q", "delete_user", user)
            try TestEnvironment.services("rabbitmqctl", "-q", "add_user", user, Self.password)
        }
        for permission in definitions["permissions"] as? [[String: String]] ?? [] where Self.users.contains(permission["user"]!) {
            try TestEnvironment.services("rabbitmqctl", "-q", "set_permissions", "-p", cluster.vhost, permission["user"]!,
                                         permission["configure"]!, permission["write"]!, permission["read"]!)
        }
        for permission in definitions["topic_permissions"] as? [[String: String]] ?? [] where Self.users.contains(permission["user"]!) {
            try TestEnvironment.services("rabbitmqctl", "-q", "set_topic_permissions", "-p", cluster.vhost, permission["user"]!,
                                         permission["exchange"]!, permission["write"]!, permission["read"]!)
        }
        let queues = ["call.offer.DRG-01", "call.offer.DRG-01.gateway", "call.offer.CDW-01", "call.offer.CDW-01.gateway",
                      "state-it.MP.reports", "state-it.CG.reports"]
        for queue in queues { _ = try await admin.declare(QueueDeclaration.quorum(queue)) }
        for binding in definitions["bindings"] as? [[String: Any]] ?? [] {
            guard let queue = binding["destination"] as? String, queues.contains(queue) else { continue }
            try await admin.bind(QueueBinding(queue: queue, exchange: binding["source"] as! String, routingKey: binding["routing_key"] as! String))
        }
    }

    func connect(_ user: String, cluster: Cluster) async throws -> AMQPConnection {
        let url = cluster.amqpURL.replacingOccurrences(of: "://sampark:sampark@", with: "://\(user):\(Self.password)@")
        return try await AMQPConnection.connect(url: url)
    }

    /// Whether consuming `queue` as this connection's user is refused.
    func consumeIsRefused(_ amqp: AMQPConnection, _ queue: String) async -> Bool {
        do {
            let consumer = try await amqp.consume(queue: queue, prefetch: 1)
            try? await consumer.cancel()
            return false
        } catch {
            return "\(error)".contains("403") || "\(error)".contains("ACCESS_REFUSED")
        }
    }

    /// Whether publishing (under confirms) as this connection's user is refused.
    func publishIsRefused(_ amqp: AMQPConnection, exchange: String, routingKey: String, userID: String? = nil) async -> Bool {
        var properties = AMQPProperties(contentType: "application/json", messageID: UUID().uuidString)
        properties.type = "call.outcome.v2"
        properties.userID = userID
        do {
            try await amqp.publish(OutgoingMessage(exchange: exchange, routingKey: routingKey, body: Array("{}".utf8), properties: properties))
            return false
        } catch {
            return true
        }
    }

    @Test func eachOutsidePartyReachesOnlyItsOwnQueuesAndSpeaksOnlyForItself() async throws {
        let cluster = try Cluster()
        try await cluster.prepare()
        let admin = try await AMQPConnection.connect(url: cluster.amqpURL)
        do {
            try await apply(try await definitions(in: cluster.logDirectory, cluster: cluster), cluster: cluster, admin: admin)
            // What the desks may publish lands on the dispatcher's and the aggregator's queues.
            try await Topology.declare([Topology.dispatcherEvents, Topology.callOutcomes], on: admin)

            let desk = try await connect("centre-drg-01", cluster: cluster)
            #expect(await consumeIsRefused(desk, "call.offer.DRG-01") == false, "its own offers")
            #expect(await consumeIsRefused(desk, "call.offer.CDW-01"), "another centre's offers")
            #expect(await consumeIsRefused(desk, "call.offer.DRG-01.gateway"), "its gateway's offers, with full numbers")
            #expect(await consumeIsRefused(desk, Topology.callOutcomes.name), "the aggregator's queue")
            let outcomesBefore = try await admin.inspectQueue(Topology.callOutcomes.name).messageCount
            #expect(await publishIsRefused(desk, exchange: Topology.callsExchange, routingKey: "call.outcome") == false, "an outcome, as itself")
            #expect(await publishIsRefused(desk, exchange: Topology.callsExchange, routingKey: "agent.presence") == false, "presence")
            #expect(try await eventually(timeout: .seconds(10)) {
                try await admin.inspectQueue(Topology.callOutcomes.name).messageCount == outcomesBefore + 1
            }, "the outcome was routed to the aggregator")
            await desk.close()
            // Each refusal closes the channel (and our client reconnects): a fresh connection each.
            for (exchange, key, userID, what) in [
                (Topology.callsExchange, "call.outcome", "centre-cdw-01", "an outcome claiming another centre's user"),
                (Topology.callsExchange, "call.offer.DRG-01", nil, "an offer, as if it were the dispatcher"),
                (Topology.listsExchange, "list.build", nil, "a list request"),
                (Topology.reportsExchange, "report.request", nil, "a report request"),
            ] as [(String, String, String?, String)] {
                let desk = try await connect("centre-drg-01", cluster: cluster)
                #expect(await publishIsRefused(desk, exchange: exchange, routingKey: key, userID: userID), "\(what)")
                await desk.close()
            }

            let state = try await connect("state-it-mp", cluster: cluster)
            #expect(await consumeIsRefused(state, "state-it.MP.reports") == false, "its own reports")
            #expect(await consumeIsRefused(state, "state-it.CG.reports"), "another state's reports")
            #expect(await consumeIsRefused(state, "call.offer.DRG-01"), "a centre's offers")
            await state.close()
            for (exchange, key) in [(Topology.reportsExchange, "report.daily.MP.all"), (Topology.reportsExchange, "report.request"),
                                    (Topology.callsExchange, "call.outcome")] {
                let state = try await connect("state-it-mp", cluster: cluster)
                #expect(await publishIsRefused(state, exchange: exchange, routingKey: key), "state IT publishing \(key)")
                await state.close()
            }
            // Binding its own queue to another state's reports (or the nation's) is refused too.
            for key in ["report.daily.CG.#", "report.daily.national", "#"] {
                let state = try await connect("state-it-mp", cluster: cluster)
                await #expect(throws: (any Error).self, "binding report keys \(key)") {
                    try await state.bind(QueueBinding(queue: "state-it.MP.reports", exchange: Topology.reportsExchange, routingKey: key))
                }
                await state.close()
            }
            let state2 = try await connect("state-it-mp", cluster: cluster)
            try await state2.bind(QueueBinding(queue: "state-it.MP.reports", exchange: Topology.reportsExchange, routingKey: "report.daily.MP.#"))
            await state2.close()
        } catch {
            await admin.close()
            for user in Self.users { try? TestEnvironment.services("rabbitmqctl", "-q", "delete_user", user) }
            await cluster.tearDown()
            throw error
        }
        await admin.close()
        for user in Self.users { try? TestEnvironment.services("rabbitmqctl", "-q", "delete_user", user) }
        await cluster.tearDown()
    }
}
