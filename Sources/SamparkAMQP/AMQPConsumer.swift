/// The deliveries of one consumer, as an AsyncSequence. Prefetch bounds how many are
/// buffered. The sequence lives across reconnections: after a lost connection the consumer
/// is re-registered on a new channel and deliveries continue (unsettled ones come again,
/// marked `redelivered`). It finishes with `consumerCancelled` if the broker cancels it
/// (its queue was deleted) and ends when `cancel()` is called or the connection closes.
public struct AMQPConsumer: AsyncSequence, Sendable {
    public typealias Element = Delivery
    public let queue: String
    public let consumerTag: String
    let stream: AsyncThrowingStream<Delivery, Error>
    let connection: AMQPConnection

    public func makeAsyncIterator() -> AsyncThrowingStream<Delivery, Error>.AsyncIterator {
        stream.makeAsyncIterator()
    }

    /// Stops deliveries and closes the consumer's channel; the broker requeues whatever was
    /// delivered and not yet settled.
    public func cancel() async throws {
        try await connection.cancel(consumerTag: consumerTag)
    }
}
