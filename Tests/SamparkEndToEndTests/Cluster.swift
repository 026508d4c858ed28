import Foundation
import SamparkPostgres
import SamparkTestSupport
import Synchronization

/// A whole Sampark on the real servers, as real processes: a RabbitMQ virtual host and a
/// PostgreSQL database of its own (so tests that run at once never share a queue or a row),
/// the five workers started from the built executables, and the `sampark` CLI.
final class Cluster: Sendable {
    static let workers = ["ingest-worker", "list-builder", "dialer-dispatcher", "feedback-aggregator", "reporter"]

    let vhost: String
    let database: String
    let amqpURL: String
    let postgresURL: String
    let logDirectory: URL
    private let processes = Mutex<[String: Process]>([:])

    /// Where `swift build` put the executables: beside the test bundle.
    static var binDirectory: URL {
        if let dir = ProcessInfo.processInfo.environment["SAMPARK_BIN_DIR"] { return URL(fileURLWithPath: dir) }
        return Bundle.main.executableURL!.deletingLastPathComponent()
    }

    /// - Parameter tls: every process (workers, CLI, checks) reaches both servers over TLS,
    ///   verifying their certificates and names against the test CA, as compose.tls.yaml has it:
    ///   the broker's TLS listener (`amqps`, `cacertfile`), PostgreSQL with `sslmode=verify-full`.
    init(tls: Bool = false) throws {
        vhost = TestEnvironment.uniqueName("e2e")
        database = TestEnvironment.uniqueName("e2e")
        let base = try tls ? TestEnvironment.amqpsURL() : TestEnvironment.amqpURL()
        guard let slash = base.range(of: "/", options: .backwards) else { throw ClusterError("bad SAMPARK_TEST_AMQP_URL") }
        let ca = tls ? try TestEnvironment.tlsCACert() : ""
        amqpURL = String(base[..<slash.lowerBound]) + "/" + vhost + (tls ? "?cacertfile=\(ca)" : "")
        let pg = try TestEnvironment.postgresURL()
        guard let dbSlash = pg.range(of: "/", options: .backwards) else { throw ClusterError("bad SAMPARK_TEST_POSTGRES_URL") }
        // The test server's certificate names localhost, not 127.0.0.1.
        let server = tls ? String(pg[..<dbSlash.lowerBound]).replacingOccurrences(of: "@127.0.0.1:", with: "@localhost:")
                         : String(pg[..<dbSlash.lowerBound])
        postgresURL = server + "/" + database + (tls ? "?sslmode=verify-full&sslrootcert=\(ca)" : "")
        logDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("sampark-\(vhost)")
        try FileManager.default.createDirectory(at: logDirectory, withIntermediateDirectories: true)
    }

    /// Creates the vhost and the database, and migrates it with `sampark migrate`.
    func prepare() async throws {
        try TestEnvironment.services("rabbitmqctl", "add_vhost", vhost)
        try TestEnvironment.services("rabbitmqctl", "set_permissions", "-p", vhost, "sampark", ".*", ".*", ".*")
        let admin = PostgresPool(configuration: try PostgresConfiguration(url: try TestEnvironment.postgresURL()), size: 1)
        try await admin.execute("CREATE DATABASE \(database)")
        await admin.shutdown()
        let migrate = try await cli(["migrate"])
        guard migrate.status == 0 else { throw ClusterError("sampark migrate failed: \(migrate.output)") }
        let topology = try await cli(["topology"])
        guard topology.status == 0 else { throw ClusterError("sampark topology failed: \(topology.output)") }
        // Each worker logs in as a member of its own least-privileged role (docs/security.md),
        // as in production: a grant the worker lacks fails the test that needs it.
        for worker in Self.workers {
            let login = try await run(Self.binDirectory.appendingPathComponent("sampark"),
                                      ["db-login", databaseLogin(of: worker), "--role", worker],
                                      extraEnvironment: ["SAMPARK_DB_LOGIN_PASSWORD": Self.workerPassword])
            guard login.status == 0 else { throw ClusterError("sampark db-login for \(worker) failed: \(login.output)") }
        }
    }

    /// The password of every worker login a cluster makes (test servers on loopback only).
    static let workerPassword = "e2e-worker-password"

    /// The PostgreSQL login `worker` runs as: the cluster's own, dropped with it.
    func databaseLogin(of worker: String) -> String { "\(database)_\(worker.replacingOccurrences(of: "-", with: "_"))" }

    /// `postgresURL` with `worker`'s own login instead of the owner's.
    func postgresURL(of worker: String) throws -> String {
        guard let at = postgresURL.range(of: "@"), let scheme = postgresURL.range(of: "://") else {
            throw ClusterError("bad SAMPARK_TEST_POSTGRES_URL")
        }
        return String(postgresURL[..<scheme.upperBound]) + databaseLogin(of: worker) + ":" + Self.workerPassword
            + String(postgresURL[at.lowerBound...])
    }

    var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["SAMPARK_AMQP_URL"] = amqpURL
        env["SAMPARK_POSTGRES_URL"] = postgresURL
        env["SAMPARK_HTTP_PORT"] = "0"
        env["SAMPARK_LOG_LEVEL"] = "info"
        env["SAMPARK_SHUTDOWN_TIMEOUT"] = "20"
        // Every process runs on the scenario's polling day, mid-morning: the dispatcher's
        // lawful-calling rules, the desks' and the reports' day all read this clock.
        env["SAMPARK_CLOCK_START"] = Scenario.pollingDayMorning
        env["SAMPARK_OFFER_QUEUE_REFRESH"] = "1"
        // The phone keys (secrets in production; fixed for tests, TestPhones).
        env.merge(TestPhones.environment) { $1 }
        return env
    }

    /// Starts a worker process; its output goes to `<log dir>/<name>.log`. `executable` runs
    /// a second copy of a worker under another name (`ingest-worker-2`).
    func start(_ worker: String, executable: String? = nil, extraEnvironment: [String: String] = [:]) throws {
        let process = Process()
        process.executableURL = Self.binDirectory.appendingPathComponent(executable ?? worker)
        var own = environment
        if Self.workers.contains(executable ?? worker) { own["SAMPARK_POSTGRES_URL"] = try postgresURL(of: executable ?? worker) }
        process.environment = own.merging(extraEnvironment) { _, new in new }
        let log = logDirectory.appendingPathComponent("\(worker).log")
        if !FileManager.default.fileExists(atPath: log.path) { FileManager.default.createFile(atPath: log.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        processes.withLock { $0[worker] = process }
    }

    func startAll() throws { for worker in Self.workers { try start(worker) } }

    /// Sends `signal` to a worker and waits for it to exit; returns its exit status.
    @discardableResult
    func stop(_ worker: String, signal: Int32 = SIGTERM) async -> Int32? {
        guard let process = processes.withLock({ $0.removeValue(forKey: worker) }) else { return nil }
        kill(process.processIdentifier, signal)
        let deadline = ContinuousClock.now + .seconds(60)
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        return process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
    }

    func pid(of worker: String) -> Int32? { processes.withLock { $0[worker]?.processIdentifier } }

    /// Waits for a worker that is expected to end by itself; returns its status (128 + signal
    /// if killed) and forgets it.
    func exitStatus(of worker: String, timeout: Duration = .seconds(30)) async -> Int32? {
        guard let process = processes.withLock({ $0[worker] }) else { return nil }
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        guard !process.isRunning else { return nil }
        processes.withLock { _ = $0.removeValue(forKey: worker) }
        return process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
    }

    /// `sampark desk-sim` for one centre, with quick calls (a fraction of a second each).
    func deskSim(_ centre: String, idle: Double = 4, agents: Int = 4, timeout: Duration = .seconds(120)) async throws -> (status: Int32, output: String) {
        try await cli(["desk-sim", "--centre", centre, "--idle", "\(idle)", "--agents", "\(agents)",
                       "--talk", "0.4", "--ring", "0.2", "--wrap-up", "0"], timeout: timeout)
    }

    /// Runs `sampark ARGS` and returns its exit status and what it printed.
    func cli(_ arguments: [String], timeout: Duration = .seconds(120)) async throws -> (status: Int32, output: String) {
        try await run(Self.binDirectory.appendingPathComponent("sampark"), arguments, timeout: timeout)
    }

    /// Runs a program in the cluster's environment, its output (both streams) collected.
    func run(_ executable: URL, _ arguments: [String], extraEnvironment: [String: String] = [:],
             timeout: Duration = .seconds(120)) async throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment.merging(extraEnvironment) { _, new in new }
        let output = logDirectory.appendingPathComponent("cli-\(UUID().uuidString).out")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            throw ClusterError("\(executable.lastPathComponent) \(arguments.joined(separator: " ")) did not finish within \(timeout)")
        }
        try handle.close()
        return (process.terminationStatus, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
    }

    /// Starts `sampark ARGS` without waiting; `finish` collects it.
    func cliInBackground(_ arguments: [String], timeout: Duration = .seconds(120)) -> Task<(status: Int32, output: String), Error> {
        Task { try await self.cli(arguments, timeout: timeout) }
    }

    func query<T: PostgresDecodable & Sendable>(_ sql: String, as type: T.Type) async throws -> T {
        var configuration = try PostgresConfiguration(url: postgresURL)
        configuration.applicationName = "e2e-check"
        let pool = PostgresPool(configuration: configuration, size: 1)
        do {
            let value = try await pool.query(sql)[0].decode(T.self, at: 0)
            await pool.shutdown()
            return value
        } catch {
            await pool.shutdown()
            throw error
        }
    }

    /// Binds a report reader first (as a state IT team would be), asks for today's report, and
    /// returns the JSON object published, or nil with what the CLI printed.
    func requestDailyReport() async throws -> (report: [String: Any]?, output: String) {
        let tail = cliInBackground(["report", "tail", "--count", "1", "--json"])
        try await Task.sleep(for: .seconds(2))
        let request = try await cli(["report", "request"])
        guard request.status == 0 else { tail.cancel(); return (nil, request.output) }
        let published = try await tail.value
        let line = published.output.split(separator: "\n").first { $0.hasPrefix("{") }
        let report = try line.flatMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        return (report, published.output)
    }

    func log(of worker: String) -> String {
        (try? String(contentsOf: logDirectory.appendingPathComponent("\(worker).log"), encoding: .utf8)) ?? ""
    }

    /// Stops every worker (SIGTERM) and removes the vhost and database. Returns exit statuses.
    @discardableResult
    func tearDown() async -> [String: Int32?] {
        var statuses: [String: Int32?] = [:]
        for worker in processes.withLock({ Array($0.keys) }) { statuses[worker] = await stop(worker) }
        try? TestEnvironment.services("rabbitmqctl", "delete_vhost", vhost)
        if let admin = try? PostgresPool(configuration: PostgresConfiguration(url: TestEnvironment.postgresURL()), size: 1) {
            _ = try? await admin.execute("DROP DATABASE IF EXISTS \(database) WITH (FORCE)")
            // The logins own nothing and hold no grant of their own (only membership), so
            // they drop once their database is gone.
            for worker in Self.workers { _ = try? await admin.execute("DROP ROLE IF EXISTS \(databaseLogin(of: worker))") }
            await admin.shutdown()
        }
        return statuses
    }
}

struct ClusterError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

