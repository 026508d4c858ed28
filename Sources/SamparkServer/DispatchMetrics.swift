import Foundation
import Prometheus

/// The dispatcher's own metrics (docs/operations.md):
///
/// | name | labels | what |
/// |---|---|---|
/// | `sampark_offers_total` | centre | offers made (each an attempt id) |
/// | `sampark_dispatch_refusals_total` | reason | calls a lawful-calling gate refused at the moment of dispatch |
/// | `sampark_live_offers` | | offers out with agents or queued, weighted by pacing |
///
/// `centre` is a centre's code (a few hundred at most, bounded by ``LabelLimiter``); `reason`
/// one of the gates' short codes (docs/dispatch.md).
public final class DispatchMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let centres: LabelLimiter
    private let reasons: LabelLimiter

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        centres = LabelLimiter(limit: 1000, overflow: WorkerMetrics.overflowLabelValue)
        reasons = LabelLimiter(limit: 50, overflow: WorkerMetrics.overflowLabelValue)
    }

    public func offered(centre: String, count: Int) {
        registry.makeCounter(descriptor: Self.descriptor("sampark_offers_total", "Offers made to a centre's agents (each an attempt)."),
                             labels: [("centre", centres.value(centre))]).increment(by: Int64(count))
    }

    public func refused(reason: String, count: Int) {
        registry.makeCounter(descriptor: Self.descriptor("sampark_dispatch_refusals_total",
                                                         "Calls a lawful-calling gate refused at the moment of dispatch, by reason."),
                             labels: [("reason", reasons.value(reason))]).increment(by: Int64(count))
    }

    public func liveOffers(_ total: Double) {
        registry.makeGauge(descriptor: Self.descriptor("sampark_live_offers",
                                                       "Offers out with agents or queued, each weighing 1 / its campaign's pacing ratio."))
            .set(total)
    }

    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
