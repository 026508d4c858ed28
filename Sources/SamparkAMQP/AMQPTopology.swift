/// Declarations of exchanges, queues and bindings. The connection keeps every successful
/// declaration and replays them, in order, after it reconnects.
public struct ExchangeDeclaration: Sendable, Equatable {
    public enum Kind: String, Sendable { case direct, topic, fanout, headers }
    public var name: String
    public var kind: Kind
    public var durable: Bool
    public var autoDelete: Bool
    public var isInternal: Bool
    public var arguments: [String: AMQPFieldValue]

    public init(name: String, kind: Kind = .topic, durable: Bool = true, autoDelete: Bool = false,
                isInternal: Bool = false, arguments: [String: AMQPFieldValue] = [:]) {
        self.name = name
        self.kind = kind
        self.durable = durable
        self.autoDelete = autoDelete
        self.isInternal = isInternal
        self.arguments = arguments
    }
}

public struct QueueDeclaration: Sendable, Equatable {
    public var name: String
    public var durable: Bool
    public var exclusive: Bool
    public var autoDelete: Bool
    public var arguments: [String: AMQPFieldValue]

    public init(name: String, durable: Bool = true, exclusive: Bool = false, autoDelete: Bool = false,
                arguments: [String: AMQPFieldValue] = [:]) {
        self.name = name
        self.durable = durable
        self.exclusive = exclusive
        self.autoDelete = autoDelete
        self.arguments = arguments
    }

    /// A durable quorum queue: replicated, and with a delivery limit so that a message that
    /// keeps failing is dead-lettered instead of spinning forever.
    public static func quorum(_ name: String, deadLetterExchange: String? = nil,
                              deadLetterRoutingKey: String? = nil, deliveryLimit: Int? = nil,
                              messageTTL: Int? = nil, extra: [String: AMQPFieldValue] = [:]) -> QueueDeclaration {
        var arguments: [String: AMQPFieldValue] = ["x-queue-type": "quorum"]
        if let deadLetterExchange { arguments["x-dead-letter-exchange"] = .string(deadLetterExchange) }
        if let deadLetterRoutingKey { arguments["x-dead-letter-routing-key"] = .string(deadLetterRoutingKey) }
        if let deliveryLimit { arguments["x-delivery-limit"] = .int(Int64(deliveryLimit)) }
        if let messageTTL { arguments["x-message-ttl"] = .int(Int64(messageTTL)) }
        arguments.merge(extra) { _, new in new }
        return QueueDeclaration(name: name, arguments: arguments)
    }
}

public struct QueueBinding: Sendable, Equatable {
    public var queue: String
    public var exchange: String
    public var routingKey: String
    public var arguments: [String: AMQPFieldValue]

    public init(queue: String, exchange: String, routingKey: String, arguments: [String: AMQPFieldValue] = [:]) {
        self.queue = queue
        self.exchange = exchange
        self.routingKey = routingKey
        self.arguments = arguments
    }
}

/// What the broker says of a queue on declare.
public struct QueueInfo: Sendable, Equatable {
    public let name: String
    public let messageCount: UInt32
    public let consumerCount: UInt32
}

/// One topology operation, as sent to the connection's thread and kept for replay.
enum TopologyOperation: Sendable, Equatable {
    case exchange(ExchangeDeclaration)
    case queue(QueueDeclaration)
    case passiveQueue(String)
    case passiveExchange(String)
    case bind(QueueBinding)
    case unbind(QueueBinding)
    case deleteQueue(String)
    case deleteExchange(String)
    case purgeQueue(String)

    /// Declarations are replayed after a reconnect; inspections and deletions are not.
    var isReplayed: Bool {
        switch self {
        case .exchange, .queue, .bind: return true
        default: return false
        }
    }
}
