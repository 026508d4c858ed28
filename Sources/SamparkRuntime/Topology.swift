import SamparkAMQP

/// Sampark's broker topology, declared in one place: `sampark topology` applies all of it,
/// and each worker applies what it uses when it starts (declarations are idempotent).
///
/// Exchanges are durable topics named `sampark.<domain>`. Each work queue `<worker>.<purpose>`
/// is a quorum queue with:
/// - a delivery limit: a message redelivered that often (say, it crashes its worker every
///   time) goes to the dead-letter exchange instead of spinning;
/// - `<queue>.dead`, bound to `sampark.dead` by the queue's name, where the runner puts what
///   can never succeed, with the reason in `x-sampark-reason`;
/// - delay queues `<queue>.delay.<n>`, one per retry, whose message TTL is the delay and whose
///   dead-letter target is the work queue again (at-least-once dead-lettering, so a delayed
///   message cannot be lost on its way back).
public enum Topology {
    public static let ingestExchange = "sampark.ingest"
    public static let listsExchange = "sampark.lists"
    public static let callsExchange = "sampark.calls"
    public static let reportsExchange = "sampark.reports"
    /// Where the central team publishes campaign material, with any AMQP client.
    public static let materialExchange = "sampark.material"
    public static let deadLetterExchange = "sampark.dead"
    /// Where the outbox relay dead-letters a message no queue was bound to take.
    public static let unroutableRoutingKey = "outbox.unroutable"
    /// Redeliveries (not retries) after which the broker dead-letters a message.
    public static let deliveryLimit = 10

    // The work queues of the five workers.
    public static let ingestBatches = WorkQueue(name: "ingest-worker.batches", bindings: [
        .init(ingestExchange, "ingest.batch.*"), .init(ingestExchange, "turnout.mark"), .init(ingestExchange, "erasure.request"),
        .init(materialExchange, "#"),
    ])
    public static let listRequests = WorkQueue(name: "list-builder.requests", bindings: [.init(listsExchange, "list.build")])
    /// The dispatcher's: lists ready, outcomes (its copy: the entry's next state and the next
    /// offer) and agents' presence.
    public static let dispatcherEvents = WorkQueue(name: "dialer-dispatcher.events", bindings: [
        .init(listsExchange, "list.ready"), .init(callsExchange, "call.outcome"), .init(callsExchange, "agent.presence"),
    ])
    public static let callOutcomes = WorkQueue(name: "feedback-aggregator.outcomes", bindings: [.init(callsExchange, "call.outcome")])
    public static let reportRequests = WorkQueue(name: "reporter.requests", bindings: [.init(reportsExchange, "report.request")])
    public static let workQueues = [ingestBatches, listRequests, dispatcherEvents, callOutcomes, reportRequests]

    /// The queue a centre's agents' desks take their offers from (the number masked); bound to
    /// `sampark.calls` by its own name.
    public static func offerQueue(centre: String) -> String { "call.offer.\(centre)" }

    /// The queue of the offers of `dialing` (`preview` or `gateway`): a centre's telephony
    /// gateway has a queue of its own, `call.offer.<centre>.gateway`, since its offers carry
    /// the full number, which no agent's desk may see.
    public static func offerQueue(centre: String, dialing: String) -> String {
        dialing == "gateway" ? "call.offer.\(centre).gateway" : offerQueue(centre: centre)
    }

    /// What the dialer-dispatcher declares for each centre (`OfferQueues`): the desks' and the
    /// gateway's offer queues, plain quorum queues bound to `sampark.calls` by their own names.
    public static func offerQueueSteps(centre: String) -> [Step] {
        ["preview", "gateway"].flatMap { dialing -> [Step] in
            let queue = offerQueue(centre: centre, dialing: dialing)
            return [.queue(QueueDeclaration.quorum(queue)),
                    .binding(QueueBinding(queue: queue, exchange: callsExchange, routingKey: queue))]
        }
    }

    public static let exchanges: [ExchangeDeclaration] = [
        ExchangeDeclaration(name: ingestExchange, kind: .topic),
        ExchangeDeclaration(name: listsExchange, kind: .topic),
        ExchangeDeclaration(name: callsExchange, kind: .topic),
        ExchangeDeclaration(name: reportsExchange, kind: .topic),
        ExchangeDeclaration(name: materialExchange, kind: .topic),
        ExchangeDeclaration(name: deadLetterExchange, kind: .direct),
    ]

    /// A worker's input queue and what feeds it.
    public struct WorkQueue: Sendable, Hashable {
        public var name: String
        /// (exchange, routing key) pairs bound to the queue.
        public var bindings: [Binding]

        public struct Binding: Sendable, Hashable {
            public var exchange: String
            public var routingKey: String
            public init(_ exchange: String, _ routingKey: String) {
                self.exchange = exchange
                self.routingKey = routingKey
            }
        }

        public init(name: String, bindings: [Binding]) {
            self.name = name
            self.bindings = bindings
        }

        public var deadQueue: String { "\(name).dead" }
    }

    /// One step of declaring the topology, as a value: `declare` applies these in order, and
    /// `sampark topology --describe` prints them, so what ops and the static checks read
    /// (deploy/rabbitmq/definitions.json, schemas/asyncapi.yaml) is what the workers declare.
    public enum Step: Sendable, Equatable {
        case exchange(ExchangeDeclaration)
        case queue(QueueDeclaration)
        case binding(QueueBinding)
    }

    /// The steps of `declare(queues, retry:)`: the exchanges, the queue of unroutable outbox
    /// messages, then each work queue with its dead-letter and delay queues and bindings.
    public static func plan(_ queues: [WorkQueue], retry: RetryPolicy = .default) -> [Step] {
        var steps = exchanges.map(Step.exchange)
        steps.append(.queue(QueueDeclaration.quorum(unroutableRoutingKey)))
        steps.append(.binding(QueueBinding(queue: unroutableRoutingKey, exchange: deadLetterExchange, routingKey: unroutableRoutingKey)))
        for queue in queues { steps += plan(queue, retry: retry) }
        return steps
    }

    /// Declares the exchanges, the queue of unroutable outbox messages, then each work queue
    /// with its dead-letter and delay queues and bindings. Idempotent: every worker runs it for
    /// its own queue at start, and `sampark topology` for all of them.
    public static func declare(_ queues: [WorkQueue], retry: RetryPolicy = .default, on amqp: AMQPConnection) async throws {
        try await apply(plan(queues, retry: retry), on: amqp)
    }

    /// Runs declaration steps in order (a plan, or a centre's offer queues).
    public static func apply(_ steps: [Step], on amqp: AMQPConnection) async throws {
        for step in steps {
            switch step {
            case .exchange(let exchange): try await amqp.declare(exchange)
            case .queue(let queue): try await amqp.declare(queue)
            case .binding(let binding): try await amqp.bind(binding)
            }
        }
    }

    /// The exchanges alone: what a publisher needs (the CLI declares them before it publishes).
    public static func declareExchanges(on amqp: AMQPConnection) async throws {
        for exchange in exchanges { try await amqp.declare(exchange) }
    }

    private static func plan(_ queue: WorkQueue, retry: RetryPolicy) -> [Step] {
        var steps: [Step] = [
            .queue(QueueDeclaration.quorum(queue.name, deadLetterExchange: deadLetterExchange,
                                           deadLetterRoutingKey: queue.name, deliveryLimit: deliveryLimit)),
            .queue(QueueDeclaration.quorum(queue.deadQueue)),
            .binding(QueueBinding(queue: queue.deadQueue, exchange: deadLetterExchange, routingKey: queue.name)),
        ]
        for retryNumber in 1...retry.delays.count {
            steps.append(.queue(QueueDeclaration.quorum(
                RetryPolicy.delayQueue(for: queue.name, retry: retryNumber),
                deadLetterExchange: "", deadLetterRoutingKey: queue.name,
                messageTTL: Int(retry.milliseconds(beforeRetry: retryNumber)),
                extra: ["x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"])))
        }
        for binding in queue.bindings {
            steps.append(.binding(QueueBinding(queue: queue.name, exchange: binding.exchange, routingKey: binding.routingKey)))
        }
        return steps
    }
}
