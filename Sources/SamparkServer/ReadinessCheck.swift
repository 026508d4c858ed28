/// One named condition for `GET /health/ready`, e.g. `"rabbitmq"`: the AMQP connection is up.
///
/// The closure runs on every readiness request, on the HTTP server's event loop threads, so it
/// must be cheap and must not wait on the network: read a flag the client keeps
/// (`amqp.isConnected`) or the cached result of a periodic probe, never run a query per
/// request (an orchestrator polls every few seconds, and a hung database would hang `/ready`).
public struct ReadinessCheck: Sendable {
    /// Named in the response, in the order the checks were given.
    public let name: String
    /// True when the dependency is usable.
    public let isReady: @Sendable () async -> Bool

    public init(_ name: String, _ isReady: @escaping @Sendable () async -> Bool) {
        self.name = name
        self.isReady = isReady
    }
}
