import Metrics
import Prometheus

/// The process's Prometheus registry, and swift-metrics wired to it.
public enum SamparkMetrics {
    /// Handler-time buckets, 1 ms to 10 s: a handler is one transaction and a few queries, so
    /// most land between 1 and 100 ms; the top buckets catch lock waits and slow retries.
    public static let durationBuckets: [Duration] = [
        .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    /// Makes swift-metrics (`Counter`, `Timer`, … of any library) record into `registry`, so
    /// `/metrics` shows them beside ``WorkerMetrics``. Timers use ``durationBuckets``.
    ///
    /// Call it once, in `main`: swift-metrics allows one bootstrap per process.
    @discardableResult
    public static func bootstrap(
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()
    ) -> PrometheusCollectorRegistry {
        MetricsSystem.bootstrap(makeFactory(registry: registry))
        return registry
    }

    /// The factory ``bootstrap(registry:)`` installs; separate so it can be checked without
    /// touching the process-wide metrics system.
    public static func makeFactory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = durationBuckets
        return factory
    }

    /// The registry in the Prometheus text exposition format (version 0.0.4), as served on
    /// `/metrics`.
    public static func render(_ registry: PrometheusCollectorRegistry) -> String {
        registry.emitToString()
    }

    /// The content type of ``render(_:)``'s output.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
}
