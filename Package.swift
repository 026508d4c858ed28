// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Sampark",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SamparkAMQP", targets: ["SamparkAMQP"]),
        .library(name: "SamparkPostgres", targets: ["SamparkPostgres"]),
        .executable(name: "sampark", targets: ["SamparkCLI"]),
        .executable(name: "ingest-worker", targets: ["ingest-worker"]),
        .executable(name: "list-builder", targets: ["list-builder"]),
        .executable(name: "dialer-dispatcher", targets: ["dialer-dispatcher"]),
        .executable(name: "feedback-aggregator", targets: ["feedback-aggregator"]),
        .executable(name: "reporter", targets: ["reporter"]),
        .executable(name: "sampark-bench", targets: ["SamparkBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        // C libraries, seen only through these two modules (module.modulemap + shim.h).
        .systemLibrary(
            name: "CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]
        ),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),

        // The only importer of CRabbitMQ.
        .target(
            name: "SamparkAMQP",
            dependencies: ["CRabbitMQ", .product(name: "Logging", package: "swift-log")]
        ),
        // The only importer of CLibPQ.
        .target(
            name: "SamparkPostgres",
            dependencies: ["CLibPQ", .product(name: "Logging", package: "swift-log")]
        ),

        // Phone numbers at rest: the keyed hash, the sealed number (AES-GCM from swift-crypto),
        // the keys from the environment, and their check against the database.
        .target(
            name: "SamparkPrivacy",
            dependencies: ["SamparkPostgres", .product(name: "Crypto", package: "swift-crypto")]
        ),

        // Message contracts and domain types: no C, no I/O.
        .target(name: "SamparkCore"),
        // What every worker process reads and serves: settings from SAMPARK_* variables,
        // JSON logs, Prometheus metrics, /health and /metrics over HTTP, graceful shutdown.
        .target(
            name: "SamparkServer",
            dependencies: [
                "SamparkCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        // The database schema: ordered SQL migrations (sql/, also reachable as schemas/sql),
        // compiled into the binary, and the migrator.
        .target(
            name: "SamparkSchema",
            dependencies: ["SamparkPostgres", "SamparkPrivacy", .product(name: "Logging", package: "swift-log")],
            resources: [.embedInCode("sql")]
        ),

        // The delivery rules every worker gets: inbox, outbox and its relay, retries through
        // delay queues, dead letters with reasons, and the broker topology.
        .target(
            name: "SamparkRuntime",
            dependencies: [
                "SamparkAMQP", "SamparkPostgres", "SamparkCore", "SamparkPrivacy",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // One library per worker: its handlers and its SQL. A message type is handled in the
        // worker named after its consumer (docs/runtime.md has the map).
        .target(name: "IngestWorker", dependencies: ["SamparkRuntime", "SamparkCore", "SamparkPostgres", "SamparkPrivacy"]),
        .target(name: "ListBuilder", dependencies: ["SamparkRuntime", "SamparkCore", "SamparkPostgres"]),
        .target(
            name: "DialerDispatcher",
            dependencies: ["SamparkRuntime", "SamparkCore", "SamparkPostgres", "SamparkAMQP", "SamparkServer", "SamparkPrivacy",
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]
        ),
        .target(name: "FeedbackAggregator", dependencies: ["SamparkRuntime", "SamparkCore", "SamparkPostgres"]),
        .target(
            name: "Reporter",
            dependencies: ["SamparkRuntime", "SamparkCore", "SamparkPostgres", "SamparkServer",
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]
        ),

        // What every worker executable runs: settings, logs, metrics, health, runner, relay.
        .target(
            name: "SamparkWorker",
            dependencies: ["SamparkRuntime", "SamparkServer", "SamparkAMQP", "SamparkPostgres", "SamparkPrivacy",
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "Prometheus", package: "swift-prometheus"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]
        ),
        // The five workers: thin mains.
        .executableTarget(name: "ingest-worker", dependencies: ["IngestWorker", "SamparkWorker", "SamparkRuntime"]),
        .executableTarget(name: "list-builder", dependencies: ["ListBuilder", "SamparkWorker", "SamparkRuntime"]),
        .executableTarget(name: "dialer-dispatcher", dependencies: ["DialerDispatcher", "SamparkWorker", "SamparkRuntime", "SamparkServer"]),
        .executableTarget(name: "feedback-aggregator", dependencies: ["FeedbackAggregator", "SamparkWorker", "SamparkRuntime"]),
        .executableTarget(name: "reporter", dependencies: ["Reporter", "SamparkWorker", "SamparkRuntime", "SamparkServer"]),

        // `sampark`: migrate, topology, load files, request lists and reports, play a desk.
        .executableTarget(
            name: "SamparkCLI",
            dependencies: [
                "SamparkAMQP", "SamparkPostgres", "SamparkCore", "SamparkRuntime", "SamparkSchema", "SamparkPrivacy",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // System benchmark: the Swift clients beside raw rabbitmq-c and psql \copy.
        .executableTarget(
            name: "SamparkBench",
            dependencies: ["SamparkAMQP", "SamparkCore", "SamparkPostgres", "SamparkPrivacy", "SamparkRuntime", "SamparkSchema", "DialerDispatcher", "Reporter",
                           .product(name: "Logging", package: "swift-log")]
        ),

        // Shared by the test targets: where the real servers are.
        .target(name: "SamparkTestSupport", dependencies: ["SamparkPostgres", "SamparkPrivacy"], path: "Tests/SamparkTestSupport"),
        .testTarget(name: "SamparkAMQPTests", dependencies: ["SamparkAMQP", "SamparkTestSupport"]),
        .testTarget(name: "SamparkPostgresTests", dependencies: ["SamparkPostgres", "SamparkTestSupport"]),
        .testTarget(name: "SamparkCoreTests", dependencies: ["SamparkCore"]),
        .testTarget(name: "SamparkRuntimeTests", dependencies: ["SamparkRuntime", "SamparkSchema", "SamparkTestSupport"]),
        .testTarget(name: "SamparkServerTests", dependencies: ["SamparkServer", "SamparkTestSupport"]),
        .testTarget(name: "SamparkSchemaTests", dependencies: ["SamparkSchema", "SamparkTestSupport"]),
        .testTarget(name: "WorkerHandlerTests",
                    dependencies: ["DialerDispatcher", "FeedbackAggregator", "IngestWorker", "ListBuilder", "Reporter", "SamparkRuntime", "SamparkSchema", "SamparkAMQP", "SamparkTestSupport",
                                   .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "SamparkEndToEndTests", dependencies: ["SamparkPostgres", "SamparkAMQP", "SamparkCore", "SamparkRuntime", "SamparkTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
