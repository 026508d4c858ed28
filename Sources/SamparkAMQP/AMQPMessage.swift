import Foundation

/// A value in an AMQP field table (message headers, queue and exchange arguments).
public indirect enum AMQPFieldValue: Sendable, Equatable, Hashable {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case double(Double)
    case bytes([UInt8])
    case timestamp(UInt64)
    case array([AMQPFieldValue])
    case table([String: AMQPFieldValue])
    case void

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        if case .bytes(let b) = self { return String(decoding: b, as: UTF8.self) }
        return nil
    }

    public var intValue: Int64? {
        if case .int(let i) = self { return i }
        return nil
    }
}

extension AMQPFieldValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

/// The standard properties of a message (AMQP 0-9-1 `basic` class) and its headers.
public struct AMQPProperties: Sendable, Equatable {
    public var contentType: String?
    public var contentEncoding: String?
    public var headers: [String: AMQPFieldValue]
    /// 2 is persistent (the default for everything Sampark publishes), 1 transient.
    public var deliveryMode: UInt8?
    public var priority: UInt8?
    public var correlationID: String?
    public var replyTo: String?
    /// Per-message TTL in milliseconds, as a decimal string (AMQP says so).
    public var expiration: String?
    public var messageID: String?
    /// Seconds since the Unix epoch.
    public var timestamp: UInt64?
    public var type: String?
    /// Verified by RabbitMQ against the connection's user when set.
    public var userID: String?
    public var appID: String?

    public init(contentType: String? = nil, contentEncoding: String? = nil,
                headers: [String: AMQPFieldValue] = [:], deliveryMode: UInt8? = nil,
                priority: UInt8? = nil, correlationID: String? = nil, replyTo: String? = nil,
                expiration: String? = nil, messageID: String? = nil, timestamp: UInt64? = nil,
                type: String? = nil, userID: String? = nil, appID: String? = nil) {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.headers = headers
        self.deliveryMode = deliveryMode
        self.priority = priority
        self.correlationID = correlationID
        self.replyTo = replyTo
        self.expiration = expiration
        self.messageID = messageID
        self.timestamp = timestamp
        self.type = type
        self.userID = userID
        self.appID = appID
    }
}

/// A message to publish. Persistent unless `properties.deliveryMode` says otherwise; a
/// message id is generated when none is given, because returns are matched to publishes
/// by it and every consumer dedupes on it.
public struct OutgoingMessage: Sendable {
    public var exchange: String
    public var routingKey: String
    public var body: [UInt8]
    public var properties: AMQPProperties
    /// Ask the broker to return the message if no queue takes it: `publish` then throws
    /// `publishReturned` instead of dropping it silently.
    public var mandatory: Bool

    public init(exchange: String, routingKey: String, body: [UInt8],
                properties: AMQPProperties = AMQPProperties(), mandatory: Bool = true) {
        self.exchange = exchange
        self.routingKey = routingKey
        self.body = body
        var properties = properties
        if properties.deliveryMode == nil { properties.deliveryMode = 2 }
        if properties.messageID == nil { properties.messageID = UUID().uuidString.lowercased() }
        if properties.timestamp == nil { properties.timestamp = UInt64(Date().timeIntervalSince1970) }
        self.properties = properties
        self.mandatory = mandatory
    }

    public init(exchange: String, routingKey: String, body: String,
                properties: AMQPProperties = AMQPProperties(), mandatory: Bool = true) {
        self.init(exchange: exchange, routingKey: routingKey, body: Array(body.utf8),
                  properties: properties, mandatory: mandatory)
    }
}

/// A message delivered to a consumer. Settle it exactly once with `ack`, `nack` or `reject`.
///
/// Settling is a one-way frame in AMQP 0-9-1 (the broker never answers it), so these calls
/// only queue the frame for the connection's thread and return. A delivery that arrived on
/// an earlier connection or channel throws `staleDelivery` and sends nothing: its delivery
/// tag would name a different message on the new channel, and the broker has already
/// requeued the original.
public struct Delivery: Sendable {
    public let body: [UInt8]
    public let properties: AMQPProperties
    public let exchange: String
    public let routingKey: String
    public let redelivered: Bool
    public let deliveryTag: UInt64
    public let consumerTag: String
    /// Which opening of the consumer's channel this came on; acks check it.
    let incarnation: UInt64
    let settler: DeliverySettler

    public var bodyString: String { String(decoding: body, as: UTF8.self) }

    public func ack(multiple: Bool = false) throws {
        try settler.settle(.ack(multiple: multiple), tag: deliveryTag, consumerTag: consumerTag, incarnation: incarnation)
    }

    public func nack(requeue: Bool, multiple: Bool = false) throws {
        try settler.settle(.nack(requeue: requeue, multiple: multiple), tag: deliveryTag, consumerTag: consumerTag, incarnation: incarnation)
    }

    public func reject(requeue: Bool) throws {
        try settler.settle(.reject(requeue: requeue), tag: deliveryTag, consumerTag: consumerTag, incarnation: incarnation)
    }
}

enum Settlement: Sendable {
    case ack(multiple: Bool)
    case nack(requeue: Bool, multiple: Bool)
    case reject(requeue: Bool)
}

protocol DeliverySettler: Sendable {
    func settle(_ settlement: Settlement, tag: UInt64, consumerTag: String, incarnation: UInt64) throws
}
