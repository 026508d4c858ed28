import CRabbitMQ
import Glibc

/// One rabbitmq-c connection: the single owner of its `amqp_connection_state_t`.
///
/// Every call blocks and none is thread-safe, so a handle is created, used and destroyed on
/// its connection's own thread only (see `ConnectionLoop`); it is deliberately not Sendable.
/// Every C status becomes an `AMQPError` here, at one choke point.
final class RabbitMQHandle {
    private let state: amqp_connection_state_t
    let frameMax: Int
    let heartbeat: Int
    let socketDescriptor: Int32
    /// The user this connection logged in as: the `user_id` of every message it publishes
    /// that names none, so that whoever consumes it knows, as the broker verified, who sent
    /// it (a centre cannot claim another's user; docs/security.md).
    let user: String
    private var destroyed = false

    /// Opens the socket (TCP or TLS), logs in, and negotiates heartbeats and frame size.
    init(configuration: AMQPConfiguration, connectTimeout: Double = 10) throws {
        guard let state = amqp_new_connection() else {
            throw AMQPError.connectionFailed(reason: "out of memory")
        }
        self.state = state
        var opened = false
        defer { if !opened { amqp_destroy_connection(state) } }

        let socket: OpaquePointer?
        if let tls = configuration.tls {
            socket = amqp_ssl_socket_new(state)
            guard let socket else { throw AMQPError.connectionFailed(reason: "could not create a TLS socket") }
            if let ca = tls.caCertificatePath {
                let status = amqp_ssl_socket_set_cacert(socket, ca)
                guard status == AMQP_STATUS_OK.rawValue else {
                    throw AMQPError.connectionFailed(reason: "cannot read CA certificate \(ca): \(Self.text(status))")
                }
            }
            if let cert = tls.clientCertificatePath, let key = tls.clientKeyPath {
                let status = amqp_ssl_socket_set_key(socket, cert, key)
                guard status == AMQP_STATUS_OK.rawValue else {
                    throw AMQPError.connectionFailed(reason: "cannot read client certificate \(cert): \(Self.text(status))")
                }
            }
            amqp_ssl_socket_set_verify_peer(socket, tls.verifyPeer ? 1 : 0)
            amqp_ssl_socket_set_verify_hostname(socket, tls.verifyHostname ? 1 : 0)
        } else {
            socket = amqp_tcp_socket_new(state)
            guard socket != nil else { throw AMQPError.connectionFailed(reason: "could not create a socket") }
        }

        var timeout = timeval(tv_sec: Int(connectTimeout), tv_usec: 0)
        let status = amqp_socket_open_noblock(socket, configuration.host, Int32(configuration.port), &timeout)
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError.connectionFailed(reason: "\(configuration.host):\(configuration.port): \(Self.text(status))")
        }
        var handshake = timeval(tv_sec: Int(connectTimeout), tv_usec: 0)
        amqp_set_handshake_timeout(state, &handshake)

        let reply = sampark_login(state, configuration.virtualHost, 0, Int32(configuration.frameMax),
                                  Int32(configuration.heartbeat), configuration.user, configuration.password,
                                  configuration.connectionName)
        if let error = Self.error(from: reply) {
            throw AMQPError.connectionFailed(reason: "login to vhost \(configuration.virtualHost) as \(configuration.user): \(error)")
        }
        // Synchronous methods (declarations) must not wait forever on a dead broker.
        var rpcTimeout = timeval(tv_sec: Int(max(connectTimeout, 2 * Double(configuration.heartbeat))), tv_usec: 0)
        amqp_set_rpc_timeout(state, &rpcTimeout)
        self.frameMax = Int(amqp_get_frame_max(state))
        self.heartbeat = Int(amqp_get_heartbeat(state))
        self.socketDescriptor = amqp_get_sockfd(state)
        self.user = configuration.user
        opened = true
    }

    deinit {
        if !destroyed { amqp_destroy_connection(state) }
    }

    /// Closes politely (connection.close and its -ok) when possible, then frees.
    func close() {
        guard !destroyed else { return }
        _ = amqp_connection_close(state, AMQP_REPLY_SUCCESS)
        amqp_destroy_connection(state)
        destroyed = true
    }

    // MARK: Channels and synchronous methods

    func openChannel(_ channel: UInt16) throws {
        _ = amqp_channel_open(state, channel)
        try checkReply(channel: channel)
    }

    func confirmSelect(_ channel: UInt16) throws {
        _ = amqp_confirm_select(state, channel)
        try checkReply(channel: channel)
    }

    func qos(_ channel: UInt16, prefetch: UInt16) throws {
        _ = amqp_basic_qos(state, channel, 0, prefetch, 0)
        try checkReply(channel: channel)
    }

    func consume(_ channel: UInt16, queue: String, consumerTag: String) throws {
        let arena = CArena(chunkSize: 1024)
        _ = amqp_basic_consume(state, channel, arena.bytes(queue), arena.bytes(consumerTag), 0, 0, 0, sampark_empty_table())
        try checkReply(channel: channel)
    }

    /// Closes a channel we opened (a cancelled consumer's).
    func closeChannel(_ channel: UInt16) throws {
        let reply = amqp_channel_close(state, channel, AMQP_REPLY_SUCCESS)
        if reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION {
            throw AMQPError.connectionLost(reason: Self.text(reply.library_error))
        }
    }

    func cancel(_ channel: UInt16, consumerTag: String) throws {
        let arena = CArena(chunkSize: 1024)
        _ = amqp_basic_cancel(state, channel, arena.bytes(consumerTag))
        try checkReply(channel: channel)
    }

    /// Runs one topology method on `channel` and returns the queue's figures for declares.
    func perform(_ operation: TopologyOperation, channel: UInt16) throws -> QueueInfo? {
        let arena = CArena(chunkSize: 4096)
        switch operation {
        case .exchange(let e):
            _ = amqp_exchange_declare(state, channel, arena.bytes(e.name), arena.bytes(e.kind.rawValue), 0,
                                      e.durable ? 1 : 0, e.autoDelete ? 1 : 0, e.isInternal ? 1 : 0, arena.table(e.arguments))
            try checkReply(channel: channel)
            return nil
        case .passiveExchange(let name):
            _ = amqp_exchange_declare(state, channel, arena.bytes(name), arena.bytes("topic"), 1, 0, 0, 0, sampark_empty_table())
            try checkReply(channel: channel)
            return nil
        case .queue(let q):
            let ok = amqp_queue_declare(state, channel, arena.bytes(q.name), 0, q.durable ? 1 : 0,
                                        q.exclusive ? 1 : 0, q.autoDelete ? 1 : 0, arena.table(q.arguments))
            try checkReply(channel: channel)
            guard let ok else { return nil }
            return QueueInfo(name: String(ok.pointee.queue), messageCount: ok.pointee.message_count,
                             consumerCount: ok.pointee.consumer_count)
        case .passiveQueue(let name):
            let ok = amqp_queue_declare(state, channel, arena.bytes(name), 1, 0, 0, 0, sampark_empty_table())
            try checkReply(channel: channel)
            guard let ok else { return nil }
            return QueueInfo(name: String(ok.pointee.queue), messageCount: ok.pointee.message_count,
                             consumerCount: ok.pointee.consumer_count)
        case .bind(let b):
            _ = amqp_queue_bind(state, channel, arena.bytes(b.queue), arena.bytes(b.exchange),
                                arena.bytes(b.routingKey), arena.table(b.arguments))
            try checkReply(channel: channel)
            return nil
        case .unbind(let b):
            _ = amqp_queue_unbind(state, channel, arena.bytes(b.queue), arena.bytes(b.exchange),
                                  arena.bytes(b.routingKey), arena.table(b.arguments))
            try checkReply(channel: channel)
            return nil
        case .deleteQueue(let name):
            _ = amqp_queue_delete(state, channel, arena.bytes(name), 0, 0)
            try checkReply(channel: channel)
            return nil
        case .deleteExchange(let name):
            _ = amqp_exchange_delete(state, channel, arena.bytes(name), 0)
            try checkReply(channel: channel)
            return nil
        case .purgeQueue(let name):
            _ = amqp_queue_purge(state, channel, arena.bytes(name))
            try checkReply(channel: channel)
            return nil
        }
    }

    // MARK: Asynchronous methods (no reply from the broker)

    /// Sends method, header and body frames of one message. The arena is reset by the caller.
    func publish(_ message: borrowing OutgoingMessage, channel: UInt16, arena: CArena) throws {
        // Fields are read in place (no copy of the properties struct per message: this runs
        // for every publish, and copying a dozen strings is most of the client's cost).
        var properties = amqp_basic_properties_t()
        var flags: UInt32 = 0
        if let value = message.properties.contentType { properties.content_type = arena.bytes(value); flags |= UInt32(AMQP_BASIC_CONTENT_TYPE_FLAG) }
        if let value = message.properties.contentEncoding { properties.content_encoding = arena.bytes(value); flags |= UInt32(AMQP_BASIC_CONTENT_ENCODING_FLAG) }
        if let value = message.properties.correlationID { properties.correlation_id = arena.bytes(value); flags |= UInt32(AMQP_BASIC_CORRELATION_ID_FLAG) }
        if let value = message.properties.replyTo { properties.reply_to = arena.bytes(value); flags |= UInt32(AMQP_BASIC_REPLY_TO_FLAG) }
        if let value = message.properties.expiration { properties.expiration = arena.bytes(value); flags |= UInt32(AMQP_BASIC_EXPIRATION_FLAG) }
        if let value = message.properties.messageID { properties.message_id = arena.bytes(value); flags |= UInt32(AMQP_BASIC_MESSAGE_ID_FLAG) }
        if let value = message.properties.type { properties.type = arena.bytes(value); flags |= UInt32(AMQP_BASIC_TYPE_FLAG) }
        properties.user_id = arena.bytes(message.properties.userID ?? user); flags |= UInt32(AMQP_BASIC_USER_ID_FLAG)
        if let value = message.properties.appID { properties.app_id = arena.bytes(value); flags |= UInt32(AMQP_BASIC_APP_ID_FLAG) }
        if !message.properties.headers.isEmpty {
            properties.headers = arena.table(message.properties.headers)
            flags |= UInt32(AMQP_BASIC_HEADERS_FLAG)
        }
        if let mode = message.properties.deliveryMode {
            properties.delivery_mode = mode
            flags |= UInt32(AMQP_BASIC_DELIVERY_MODE_FLAG)
        }
        if let priority = message.properties.priority {
            properties.priority = priority
            flags |= UInt32(AMQP_BASIC_PRIORITY_FLAG)
        }
        if let timestamp = message.properties.timestamp {
            properties.timestamp = timestamp
            flags |= UInt32(AMQP_BASIC_TIMESTAMP_FLAG)
        }
        properties._flags = flags
        let exchange = arena.bytes(message.exchange)
        let routingKey = arena.bytes(message.routingKey)
        let mandatory: amqp_boolean_t = message.mandatory ? 1 : 0
        let status = message.body.withUnsafeBytes { body in
            amqp_basic_publish(state, channel, exchange, routingKey, mandatory, 0, &properties,
                               sampark_bytes(body.baseAddress, body.count))
        }
        try check(status)
    }

    func settle(_ settlement: Settlement, channel: UInt16, tag: UInt64) throws {
        let status: Int32
        switch settlement {
        case .ack(let multiple): status = amqp_basic_ack(state, channel, tag, multiple ? 1 : 0)
        case .nack(let requeue, let multiple): status = amqp_basic_nack(state, channel, tag, multiple ? 1 : 0, requeue ? 1 : 0)
        case .reject(let requeue): status = amqp_basic_reject(state, channel, tag, requeue ? 1 : 0)
        }
        try check(status)
    }

    /// Answers a broker-initiated channel.close, so the channel number can be reused.
    func sendChannelCloseOK(_ channel: UInt16) throws {
        var ok = amqp_channel_close_ok_t(dummy: 0)
        try check(amqp_send_method(state, channel, SAMPARK_CHANNEL_CLOSE_OK, &ok))
    }

    /// Answers a broker-initiated connection.close.
    func sendConnectionCloseOK() {
        var ok = amqp_connection_close_ok_t(dummy: 0)
        _ = amqp_send_method(state, 0, SAMPARK_CONNECTION_CLOSE_OK, &ok)
    }

    // MARK: Reading

    /// Reads the next frame if one is already buffered or arrives within `timeoutMicroseconds`
    /// (at least 1: a zero timeout would skip rabbitmq-c's check of missed heartbeats).
    /// Returns nil on timeout. Heartbeats are answered and swallowed inside rabbitmq-c.
    func readFrame(timeoutMicroseconds: Int = 1) throws -> IncomingFrame? {
        var frame = amqp_frame_t()
        let status = sampark_wait_frame(state, &frame, max(1, timeoutMicroseconds))
        if status == AMQP_STATUS_TIMEOUT.rawValue { return nil }
        try check(status)
        return IncomingFrame(frame)
    }

    /// Frees the memory of frames already handled, once rabbitmq-c has none queued.
    func releaseBuffers() {
        amqp_maybe_release_buffers(state)
    }

    /// True when rabbitmq-c holds unread bytes or frames queued during a synchronous call;
    /// the socket may then be quiet although frames wait.
    var hasBufferedInput: Bool {
        amqp_data_in_buffer(state) != 0 || amqp_frames_enqueued(state) != 0
    }

    // MARK: Errors

    private func check(_ status: Int32) throws {
        guard status != AMQP_STATUS_OK.rawValue else { return }
        if status == AMQP_STATUS_HEARTBEAT_TIMEOUT.rawValue {
            throw AMQPError.connectionLost(reason: "no data from the broker for two heartbeat intervals")
        }
        if status == AMQP_STATUS_CONNECTION_CLOSED.rawValue || status == AMQP_STATUS_SOCKET_ERROR.rawValue
            || status == AMQP_STATUS_SOCKET_CLOSED.rawValue || status == AMQP_STATUS_SSL_ERROR.rawValue
            || status == AMQP_STATUS_TCP_ERROR.rawValue {
            throw AMQPError.connectionLost(reason: Self.text(status))
        }
        throw AMQPError.library(status: status, text: Self.text(status))
    }

    /// Turns the reply of the last synchronous method into an error; answers a
    /// broker-initiated close so the channel (or connection) state stays consistent.
    private func checkReply(channel: UInt16) throws {
        let reply = amqp_get_rpc_reply(state)
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if reply.reply.id == SAMPARK_CHANNEL_CLOSE, let decoded = reply.reply.decoded {
                let close = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                let error = AMQPError.serverRefused(code: Int(close.reply_code), text: String(close.reply_text))
                try sendChannelCloseOK(channel)
                throw ChannelClosed(error: error)
            }
            if reply.reply.id == SAMPARK_CONNECTION_CLOSE, let decoded = reply.reply.decoded {
                let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                sendConnectionCloseOK()
                throw AMQPError.connectionLost(reason: "broker closed the connection (\(close.reply_code)): \(String(close.reply_text))")
            }
            throw AMQPError.library(status: -1, text: "unexpected server method \(reply.reply.id)")
        default:
            let status = reply.library_error
            try check(status == 0 ? AMQP_STATUS_UNEXPECTED_STATE.rawValue : status)
        }
    }

    private static func error(from reply: amqp_rpc_reply_t) -> String? {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL: return nil
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if reply.reply.id == SAMPARK_CONNECTION_CLOSE, let decoded = reply.reply.decoded {
                let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                return "\(close.reply_code) \(String(close.reply_text))"
            }
            return "server exception"
        default:
            return text(reply.library_error)
        }
    }

    static func text(_ status: Int32) -> String {
        String(cString: amqp_error_string2(status))
    }
}

/// The broker closed the channel a synchronous method ran on; the connection lives on.
struct ChannelClosed: Error {
    let error: AMQPError
}

/// A frame copied out of rabbitmq-c's pool memory, so it outlives `releaseBuffers()`.
enum IncomingFrame {
    case method(channel: UInt16, IncomingMethod)
    case header(channel: UInt16, bodySize: UInt64, properties: AMQPProperties)
    case body(channel: UInt16, UnsafeRawBufferPointer)
    case other

    /// Valid only until the next read: bodies point into rabbitmq-c's buffers and are
    /// copied by the caller at once.
    init(_ frame: amqp_frame_t) {
        switch Int32(frame.frame_type) {
        case AMQP_FRAME_METHOD:
            self = .method(channel: frame.channel, IncomingMethod(frame.payload.method))
        case AMQP_FRAME_HEADER:
            var properties = AMQPProperties()
            if let decoded = frame.payload.properties.decoded {
                properties = AMQPProperties(decoded.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee)
            }
            self = .header(channel: frame.channel, bodySize: frame.payload.properties.body_size, properties: properties)
        case AMQP_FRAME_BODY:
            let body = frame.payload.body_fragment
            self = .body(channel: frame.channel, UnsafeRawBufferPointer(start: body.bytes, count: body.len))
        default:
            self = .other
        }
    }
}

enum IncomingMethod {
    case deliver(consumerTag: String, deliveryTag: UInt64, redelivered: Bool, exchange: String, routingKey: String)
    case returned(code: Int, text: String, exchange: String, routingKey: String)
    case ack(tag: UInt64, multiple: Bool)
    case nack(tag: UInt64, multiple: Bool)
    case cancel(consumerTag: String)
    case channelClose(code: Int, text: String)
    case connectionClose(code: Int, text: String)
    case blocked(reason: String)
    case unblocked
    case other(UInt32)

    init(_ method: amqp_method_t) {
        guard let decoded = method.decoded else { self = .other(method.id); return }
        switch method.id {
        case SAMPARK_BASIC_DELIVER:
            let m = decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            self = .deliver(consumerTag: String(m.consumer_tag), deliveryTag: m.delivery_tag,
                            redelivered: m.redelivered != 0, exchange: String(m.exchange), routingKey: String(m.routing_key))
        case SAMPARK_BASIC_RETURN:
            let m = decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            self = .returned(code: Int(m.reply_code), text: String(m.reply_text), exchange: String(m.exchange),
                             routingKey: String(m.routing_key))
        case SAMPARK_BASIC_ACK:
            let m = decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            self = .ack(tag: m.delivery_tag, multiple: m.multiple != 0)
        case SAMPARK_BASIC_NACK:
            let m = decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            self = .nack(tag: m.delivery_tag, multiple: m.multiple != 0)
        case SAMPARK_BASIC_CANCEL:
            let m = decoded.assumingMemoryBound(to: amqp_basic_cancel_t.self).pointee
            self = .cancel(consumerTag: String(m.consumer_tag))
        case SAMPARK_CHANNEL_CLOSE:
            let m = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            self = .channelClose(code: Int(m.reply_code), text: String(m.reply_text))
        case SAMPARK_CONNECTION_CLOSE:
            let m = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            self = .connectionClose(code: Int(m.reply_code), text: String(m.reply_text))
        case SAMPARK_CONNECTION_BLOCKED:
            let m = decoded.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee
            self = .blocked(reason: String(m.reason))
        case SAMPARK_CONNECTION_UNBLOCKED:
            self = .unblocked
        default:
            self = .other(method.id)
        }
    }
}

extension AMQPProperties {
    init(_ p: amqp_basic_properties_t) {
        let flags = Int32(bitPattern: p._flags)
        func string(_ flag: Int32, _ bytes: amqp_bytes_t) -> String? {
            flags & flag != 0 ? String(bytes) : nil
        }
        self.init(
            contentType: string(AMQP_BASIC_CONTENT_TYPE_FLAG, p.content_type),
            contentEncoding: string(AMQP_BASIC_CONTENT_ENCODING_FLAG, p.content_encoding),
            headers: flags & AMQP_BASIC_HEADERS_FLAG != 0 ? [String: AMQPFieldValue](p.headers) : [:],
            deliveryMode: flags & AMQP_BASIC_DELIVERY_MODE_FLAG != 0 ? p.delivery_mode : nil,
            priority: flags & AMQP_BASIC_PRIORITY_FLAG != 0 ? p.priority : nil,
            correlationID: string(AMQP_BASIC_CORRELATION_ID_FLAG, p.correlation_id),
            replyTo: string(AMQP_BASIC_REPLY_TO_FLAG, p.reply_to),
            expiration: string(AMQP_BASIC_EXPIRATION_FLAG, p.expiration),
            messageID: string(AMQP_BASIC_MESSAGE_ID_FLAG, p.message_id),
            timestamp: flags & AMQP_BASIC_TIMESTAMP_FLAG != 0 ? p.timestamp : nil,
            type: string(AMQP_BASIC_TYPE_FLAG, p.type),
            userID: string(AMQP_BASIC_USER_ID_FLAG, p.user_id),
            appID: string(AMQP_BASIC_APP_ID_FLAG, p.app_id))
    }
}

