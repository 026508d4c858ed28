import CoreMetrics
import Foundation
import Prometheus
import Testing

@testable import SamparkServer

@Suite struct WorkerMetricsTests {
    @Test func rendersNamesHelpAndCounts() {
        let registry = PrometheusCollectorRegistry()
        let metrics = WorkerMetrics(registry: registry)
        for _ in 0..<3 { metrics.handled(queue: "calls.ingest", type: "call.logged.v1", duration: .milliseconds(3)) }
        metrics.failed(queue: "calls.ingest", type: "call.logged.v1", reason: "decode", duration: .milliseconds(20))
        metrics.retried(queue: "calls.ingest", type: "call.logged.v1")
        metrics.retried(queue: "calls.ingest", type: "call.logged.v1")
        metrics.deadLettered(queue: "calls.ingest", type: "call.logged.v1", reason: "decode")
        let now = Date(timeIntervalSince1970: 1_000_000)
        metrics.queueLag(queue: "calls.ingest", timestamp: now.addingTimeInterval(-4), now: now)
        metrics.queueLag(queue: "calls.ingest", timestamp: now.addingTimeInterval(5), now: now)  // clock skew: 0
        metrics.queueLag(queue: "calls.ingest", timestamp: nil, now: now)  // no timestamp: not recorded

        let text = SamparkMetrics.render(registry)
        let labels = #"queue="calls.ingest",type="call.logged.v1""#
        for line in [
            "# HELP sampark_messages_handled_total Messages handled successfully and acknowledged.",
            "# TYPE sampark_messages_handled_total counter",
            "sampark_messages_handled_total{\(labels)} 3",
            "# HELP sampark_messages_failed_total Messages whose handler failed, by reason; they may be retried.",
            #"sampark_messages_failed_total{\#(labels),reason="decode"} 1"#,
            "# HELP sampark_messages_retried_total Messages scheduled for another attempt after a failure.",
            "sampark_messages_retried_total{\(labels)} 2",
            "# HELP sampark_messages_dead_lettered_total Messages given up on and sent to the dead-letter queue, by reason.",
            #"sampark_messages_dead_lettered_total{\#(labels),reason="decode"} 1"#,
            "# HELP sampark_handler_duration_seconds Time spent in the message handler, successful or not.",
            "# TYPE sampark_handler_duration_seconds histogram",
            #"sampark_handler_duration_seconds_bucket{\#(labels),le="0.001"} 0"#,
            #"sampark_handler_duration_seconds_bucket{\#(labels),le="0.005"} 3"#,
            #"sampark_handler_duration_seconds_bucket{\#(labels),le="0.025"} 4"#,
            #"sampark_handler_duration_seconds_bucket{\#(labels),le="10.0"} 4"#,
            #"sampark_handler_duration_seconds_bucket{\#(labels),le="+Inf"} 4"#,
            "sampark_handler_duration_seconds_count{\(labels)} 4",
            "# HELP sampark_queue_lag_seconds Age of a message when its handling starts: now minus the AMQP timestamp (1 s resolution).",
            "# TYPE sampark_queue_lag_seconds histogram",
            #"sampark_queue_lag_seconds_bucket{queue="calls.ingest",le="0.5"} 1"#,
            #"sampark_queue_lag_seconds_bucket{queue="calls.ingest",le="5.0"} 2"#,
            #"sampark_queue_lag_seconds_count{queue="calls.ingest"} 2"#,
            #"sampark_queue_lag_seconds_sum{queue="calls.ingest"} 4.0"#,
        ] {
            #expect(text.split(separator: "\n").contains(Substring(line)), "missing: \(line)\n\(text)")
        }
    }

    @Test func labelValuesAreBounded() {
        let registry = PrometheusCollectorRegistry()
        let metrics = WorkerMetrics(registry: registry, maximumValuesPerLabel: 2)
        for type in ["a.v1", "b.v1", "c.v1", "d.v1", "a.v1"] {
            metrics.retried(queue: "q", type: type)
        }
        let text = SamparkMetrics.render(registry)
        #expect(text.contains(#"sampark_messages_retried_total{queue="q",type="a.v1"} 2"#))
        #expect(text.contains(#"sampark_messages_retried_total{queue="q",type="b.v1"} 1"#))
        #expect(text.contains(#"sampark_messages_retried_total{queue="q",type="other"} 2"#))
        #expect(!text.contains("c.v1"))
    }

    /// swift-metrics types of other libraries land in the same registry, with our buckets.
    @Test func swiftMetricsGoToTheRegistry() {
        let registry = PrometheusCollectorRegistry()
        let factory = SamparkMetrics.makeFactory(registry: registry)
        let counter = CoreMetrics.Counter(label: "sampark_test_events_total", dimensions: [("kind", "x")], factory: factory)
        counter.increment(by: 5)
        let timer = CoreMetrics.Timer(label: "sampark_test_seconds", dimensions: [], factory: factory)
        timer.recordMilliseconds(2)
        let text = SamparkMetrics.render(registry)
        #expect(text.contains(#"sampark_test_events_total{kind="x"} 5"#))
        #expect(text.contains(#"sampark_test_seconds_bucket{le="0.0025"} 1"#))
    }
}
