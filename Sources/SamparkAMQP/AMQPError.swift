/// Everything that can go wrong talking to RabbitMQ, with what a caller can do about it.
public enum AMQPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The configuration URL is malformed.
    case invalidURL(reason: String)
    /// TCP/TLS connection, login or channel set-up failed.
    case connectionFailed(reason: String)
    /// The connection was lost (socket error, missed heartbeats, broker closed it) while the
    /// operation was in flight. Retryable: the client reconnects by itself.
    case connectionLost(reason: String)
    /// The broker closed a channel or refused a method, with its AMQP reply code (404 for a
    /// missing queue or exchange, 406 for a precondition such as mismatched arguments).
    case serverRefused(code: Int, text: String)
    /// The broker answered `basic.nack` for a publish: it could not take responsibility.
    case publishNacked(messageID: String?)
    /// A mandatory publish matched no queue: the broker returned it.
    case publishReturned(messageID: String?, code: Int, text: String)
    /// An ack, nack or reject for a delivery received on an earlier connection or channel.
    /// Never sent: the broker has already requeued that message for redelivery.
    case staleDelivery
    /// The consumer was cancelled by the broker (its queue was deleted, for example).
    case consumerCancelled(queue: String)
    /// The connection was closed by `close()`.
    case closed
    /// A rabbitmq-c call failed with this status.
    case library(status: Int32, text: String)

    /// Worth retrying the same operation later (the connection comes back by itself).
    public var isTransient: Bool {
        switch self {
        case .connectionLost, .connectionFailed, .publishNacked: return true
        default: return false
        }
    }

    public var description: String {
        switch self {
        case .invalidURL(let reason): return "invalid AMQP URL: \(reason)"
        case .connectionFailed(let reason): return "could not connect to RabbitMQ: \(reason)"
        case .connectionLost(let reason): return "connection to RabbitMQ lost: \(reason)"
        case .serverRefused(let code, let text): return "RabbitMQ refused (\(code)): \(text)"
        case .publishNacked(let id): return "RabbitMQ nacked the publish of message \(id ?? "-")"
        case .publishReturned(let id, let code, let text):
            return "RabbitMQ returned mandatory message \(id ?? "-") as unroutable (\(code) \(text))"
        case .staleDelivery: return "delivery belongs to an earlier connection or channel; it will be redelivered"
        case .consumerCancelled(let queue): return "consumer of queue \(queue) was cancelled by the broker"
        case .closed: return "connection closed"
        case .library(let status, let text): return "rabbitmq-c error \(status): \(text)"
        }
    }
}
