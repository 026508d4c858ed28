// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Sampark",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SamparkAMQP", targets: ["SamparkAMQP"]),
        .library(name: "SamparkPostgres", targets: ["SamparkPostgres"]),
        .executable(name: "sampark-bench", targets: ["SamparkBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
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

        // System benchmark: the Swift clients beside raw rabbitmq-c and psql \copy.
        .executableTarget(
            name: "SamparkBench",
            dependencies: ["SamparkAMQP", "SamparkPostgres"]
        ),

        // Shared by the test targets: where the real servers are.
        .target(name: "SamparkTestSupport", path: "Tests/SamparkTestSupport"),
        .testTarget(name: "SamparkAMQPTests", dependencies: ["SamparkAMQP", "SamparkTestSupport"]),
        .testTarget(name: "SamparkPostgresTests", dependencies: ["SamparkPostgres", "SamparkTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
