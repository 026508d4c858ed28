import Foundation

/// Where the real servers started by `scripts/services.sh` live, as told by the environment
/// that `make test` exports. A missing variable is a failure with a clear message, never a
/// skip: in CI a test that cannot reach its server must fail the run.
public enum TestEnvironment {
    public struct Missing: Error, CustomStringConvertible {
        public let variable: String
        public var description: String {
            "\(variable) is not set: run the tests through `make test`, which starts private RabbitMQ and PostgreSQL servers and exports it"
        }
    }

    public static func require(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            throw Missing(variable: name)
        }
        return value
    }

    /// `amqp://` URL of the private broker.
    public static func amqpURL() throws -> String { try require("SAMPARK_TEST_AMQP_URL") }
    /// `amqps://` URL of the private broker's TLS listener.
    public static func amqpsURL() throws -> String { try require("SAMPARK_TEST_AMQPS_URL") }
    /// PEM file of the CA that signed the broker's TLS certificate (made for the test run).
    public static func tlsCACert() throws -> String { try require("SAMPARK_TEST_TLS_CA") }
    /// `postgres://` URL of the private PostgreSQL server.
    public static func postgresURL() throws -> String { try require("SAMPARK_TEST_POSTGRES_URL") }

    /// Runs `scripts/services.sh <arguments>` (restart a server, close connections, pause
    /// the broker) and waits for it; throws if it fails.
    public static func services(_ arguments: String...) throws {
        let script = try require("SAMPARK_TEST_SERVICES")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script] + arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ServiceCommandFailed(arguments: arguments, status: process.terminationStatus)
        }
    }

    public struct ServiceCommandFailed: Error, CustomStringConvertible {
        public let arguments: [String]
        public let status: Int32
        public var description: String { "services.sh \(arguments.joined(separator: " ")) exited \(status)" }
    }

    /// A name no other test uses: queues, exchanges, tables, schemas.
    public static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(UInt64.random(in: 0..<UInt64.max) & 0xFFFF_FFFF_FFFF)"
    }
}

/// Waits, boundedly, until `condition` holds, checking every 50 ms; returns whether it did.
/// The one wait every integration test uses: what the servers do is asynchronous, and a test
/// states the end state it expects, not a sleep.
public func eventually(timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
