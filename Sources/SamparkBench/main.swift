import Foundation

// `make bench`: the figures the foundation issue asks for, each beside its baseline
// measured in the same run (this machine is shared; only ratios are comparable).
let options = BenchOptions.parse(Array(CommandLine.arguments.dropFirst()))
var rows: [BenchRow] = []
if options.only.isEmpty || options.only.contains("amqp") {
    let bench = AMQPBench(options: options, url: environment("SAMPARK_TEST_AMQP_URL"),
                          baselineBinary: environment("SAMPARK_BENCH_RABBITMQ_C"))
    do { rows += try await bench.run() } catch { fail("\(error)") }
}
if options.only.isEmpty || options.only.contains("copy") {
    let bench = CopyBench(options: options, url: environment("SAMPARK_TEST_POSTGRES_URL"),
                          psql: environment("SAMPARK_BENCH_PSQL"))
    do { rows += try await bench.run() } catch { fail("\(error)") }
}
if options.only.isEmpty || options.only.contains("ingest") {
    // Needs the release `sampark` and `ingest-worker` beside this binary (make bench builds them).
    let bench = IngestBench(options: options, amqpURL: environment("SAMPARK_TEST_AMQP_URL"),
                            postgresURL: environment("SAMPARK_TEST_POSTGRES_URL"), psql: environment("SAMPARK_BENCH_PSQL"))
    do { rows += try await bench.run() } catch { fail("\(error)") }
}
if options.only.isEmpty || options.only.contains("lists") {
    // Needs the release `sampark` and `list-builder` beside this binary (make bench builds them).
    let bench = ListBench(options: options, amqpURL: environment("SAMPARK_TEST_AMQP_URL"),
                          postgresURL: environment("SAMPARK_TEST_POSTGRES_URL"))
    do { rows += try await bench.run() } catch { fail("\(error)") }
}
if options.only.isEmpty || options.only.contains("dispatch") {
    // Needs the release `dialer-dispatcher`, `feedback-aggregator` and `sampark` beside this binary.
    let bench = DispatchBench(options: options, amqpURL: environment("SAMPARK_TEST_AMQP_URL"),
                              postgresURL: environment("SAMPARK_TEST_POSTGRES_URL"),
                              baselineBinary: environment("SAMPARK_BENCH_RABBITMQ_C"))
    do { rows += try await bench.run() } catch { fail("\(error)") }
}
if options.only.isEmpty || options.only.contains("feedback") {
    // Needs the release `feedback-aggregator` beside this binary.
    let bench = FeedbackBench(options: options, amqpURL: environment("SAMPARK_TEST_AMQP_URL"),
                              postgresURL: environment("SAMPARK_TEST_POSTGRES_URL"),
                              baselineBinary: environment("SAMPARK_BENCH_RABBITMQ_C"))
    do { rows += try await bench.run() } catch { fail("\(error)") }
}
if options.only.isEmpty || options.only.contains("reports") {
    do { try await ReportBench(options: options, postgresURL: environment("SAMPARK_TEST_POSTGRES_URL")).run() } catch { fail("\(error)") }
}
printTable(rows, title: "Sampark benchmark")
