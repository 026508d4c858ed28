import Foundation
import Prometheus
import Synchronization

/// The metrics a worker runner records for every message, in a Prometheus registry.
///
/// | name | labels | what |
/// |---|---|---|
/// | `sampark_messages_handled_total` | queue, type | handled successfully (then acknowledged) |
/// | `sampark_messages_failed_total` | queue, type, reason | the handler failed (retried or not) |
/// | `sampark_messages_retried_total` | queue, type | scheduled for another attempt |
/// | `sampark_messages_dead_lettered_total` | queue, type, reason | given up on, sent to the dead-letter queue |
/// | `sampark_handler_duration_seconds` | queue, type | histogram, 1 ms to 10 s, success or failure |
/// | `sampark_queue_lag_seconds` | queue | histogram of message age when handling starts |
///
/// **Label cardinality.** Every distinct label set is a time series kept forever, so label
/// values must come from small fixed sets: `queue` is one of the worker's own queues, `type`
/// a message type the worker knows (`report.daily.v1`), `reason` a short code (`decode`,
/// `constraint`, `transient`, `timeout`) — never an error message, an id or a phone number.
/// As a guard against a bug or a hostile publisher (the `type` property comes off the wire),
/// each label keeps at most ``maximumValuesPerLabel`` distinct values; later new values are
/// recorded as `other`.
public final class WorkerMetrics: Sendable {
    /// Metric names and HELP texts. The registry requires one HELP text per name.
    public enum Name {
        public static let handled = "sampark_messages_handled_total"
        public static let failed = "sampark_messages_failed_total"
        public static let retried = "sampark_messages_retried_total"
        public static let deadLettered = "sampark_messages_dead_lettered_total"
        public static let handlerDuration = "sampark_handler_duration_seconds"
        public static let queueLag = "sampark_queue_lag_seconds"
    }

    public enum Help {
        public static let handled = "Messages handled successfully and acknowledged."
        public static let failed = "Messages whose handler failed, by reason; they may be retried."
        public static let retried = "Messages scheduled for another attempt after a failure."
        public static let deadLettered = "Messages given up on and sent to the dead-letter queue, by reason."
        public static let handlerDuration = "Time spent in the message handler, successful or not."
        public static let queueLag =
            "Age of a message when its handling starts: now minus the AMQP timestamp (1 s resolution)."
    }

    /// Lag buckets, 0.5 s to 2 h. The AMQP timestamp has whole seconds, so finer buckets would
    /// mean nothing; a backlog during a campaign peak can be an hour old.
    public static let lagBuckets: [Double] = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200]

    /// The value a label takes once it has seen too many distinct values.
    public static let overflowLabelValue = "other"

    /// Distinct values kept per label (`queue`, `type`, `reason`) before ``overflowLabelValue``.
    public let maximumValuesPerLabel: Int

    private let registry: PrometheusCollectorRegistry
    private let queues: LabelLimiter
    private let types: LabelLimiter
    private let reasons: LabelLimiter

    public init(registry: PrometheusCollectorRegistry, maximumValuesPerLabel: Int = 100) {
        self.registry = registry
        self.maximumValuesPerLabel = maximumValuesPerLabel
        self.queues = LabelLimiter(limit: maximumValuesPerLabel, overflow: Self.overflowLabelValue)
        self.types = LabelLimiter(limit: maximumValuesPerLabel, overflow: Self.overflowLabelValue)
        self.reasons = LabelLimiter(limit: maximumValuesPerLabel, overflow: Self.overflowLabelValue)
    }

    /// A message was handled successfully; `duration` is the handler's time.
    public func handled(queue: String, type: String, duration: Duration) {
        let series = handledSeries(queue: queue, type: type)
        series.count.increment()
        series.duration.record(duration)
    }

    /// The series of every message handled, looked up once per queue and type: the registry
    /// checks a metric's name and help text on every lookup, which showed in the profile of
    /// a worker handling tens of thousands of messages a second.
    private func handledSeries(queue: String, type: String) -> (count: Counter, duration: DurationHistogram) {
        let key = queue + "\u{0}" + type
        if let series = handledByKey.withLock({ $0[key] }) { return series }
        let labels = labels(queue: queue, type: type)
        let series = (count: registry.makeCounter(descriptor: Self.descriptor(Name.handled, Help.handled), labels: labels),
                      duration: registry.makeDurationHistogram(descriptor: Self.descriptor(Name.handlerDuration, Help.handlerDuration),
                                                               labels: labels, buckets: SamparkMetrics.durationBuckets))
        // Bounded like the labels: only registered types are handled, but a bound costs nothing.
        handledByKey.withLock { if $0.count < maximumValuesPerLabel * maximumValuesPerLabel { $0[key] = series } }
        return series
    }

    private let handledByKey = Mutex<[String: (count: Counter, duration: DurationHistogram)]>([:])
    private let lagByQueue = Mutex<[String: ValueHistogram]>([:])

    /// The handler failed for `reason` (a short code); `duration` is the handler's time.
    public func failed(queue: String, type: String, reason: String, duration: Duration) {
        let labels = labels(queue: queue, type: type)
        registry.makeCounter(
            descriptor: Self.descriptor(Name.failed, Help.failed), labels: labels + [("reason", reasons.value(reason))]
        ).increment()
        recordDuration(duration, labels: labels)
    }

    /// A failed message was scheduled for another attempt.
    public func retried(queue: String, type: String) {
        registry.makeCounter(
            descriptor: Self.descriptor(Name.retried, Help.retried), labels: labels(queue: queue, type: type)
        ).increment()
    }

    /// A message was given up on and dead-lettered for `reason`.
    public func deadLettered(queue: String, type: String, reason: String) {
        registry.makeCounter(
            descriptor: Self.descriptor(Name.deadLettered, Help.deadLettered),
            labels: labels(queue: queue, type: type) + [("reason", reasons.value(reason))]
        ).increment()
    }

    /// Records how old a message is as its handling starts. `timestamp` is the AMQP
    /// `timestamp` property; messages without one are not recorded. Negative ages (clocks of
    /// publisher and worker apart) count as 0.
    public func queueLag(queue: String, timestamp: Date?, now: Date = Date()) {
        guard let timestamp else { return }
        let age = max(0, now.timeIntervalSince(timestamp))
        if let histogram = lagByQueue.withLock({ $0[queue] }) { return histogram.record(age) }
        let histogram = registry.makeValueHistogram(
            descriptor: Self.descriptor(Name.queueLag, Help.queueLag), labels: [("queue", queues.value(queue))],
            buckets: Self.lagBuckets)
        lagByQueue.withLock { if $0.count < maximumValuesPerLabel { $0[queue] = histogram } }
        histogram.record(age)
    }

    private func labels(queue: String, type: String) -> [(String, String)] {
        // Always in this order: the registry keys a series by its labels in order.
        [("queue", queues.value(queue)), ("type", types.value(type))]
    }

    private func recordDuration(_ duration: Duration, labels: [(String, String)]) {
        registry.makeDurationHistogram(
            descriptor: Self.descriptor(Name.handlerDuration, Help.handlerDuration), labels: labels,
            buckets: SamparkMetrics.durationBuckets
        ).record(duration)
    }

    /// Made per call: `MetricNameDescriptor` is not `Sendable`, so it cannot be a shared
    /// constant; the full name goes in `metricName` with an empty unit, which the registry
    /// drops when it joins the parts.
    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
