import Foundation
import SamparkAMQP
import SamparkPostgres
import SamparkPrivacy
import SamparkRuntime
import SamparkSchema

/// Settings of one benchmark run, from the command line.
struct BenchOptions {
    var messages = 100_000
    var messageSize = 300
    var rounds = 3
    var window = 2_000
    var prefetch = 500
    var copyRows = 500_000
    var ingestRows = 1_000_000
    var ingestRounds = 3
    var listContacts = 5_000_000
    var listRounds = 3
    /// Entries per centre (300 centres) for the dispatch throughput rounds.
    var dispatchEntriesPerCentre = 500
    var dispatchRounds = 3
    var latencyCalls = 400
    /// How much faster than real time the polling-day hour runs.
    var hourSpeed = 12.0
    var feedbackOutcomes = 50_000
    var feedbackRounds = 3
    var reportAttempts = 10_000_000
    var only: Set<String> = []

    static func parse(_ arguments: [String]) -> BenchOptions {
        var options = BenchOptions()
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            func value() -> Int {
                guard let text = iterator.next(), let number = Int(text), number > 0 else {
                    fail("\(argument) takes a positive whole number")
                }
                return number
            }
            switch argument {
            case "--messages": options.messages = value()
            case "--size": options.messageSize = value()
            case "--rounds": options.rounds = value()
            case "--window": options.window = value()
            case "--prefetch": options.prefetch = value()
            case "--copy-rows": options.copyRows = value()
            case "--ingest-rows": options.ingestRows = value()
            case "--ingest-rounds": options.ingestRounds = value()
            case "--list-contacts": options.listContacts = value()
            case "--list-rounds": options.listRounds = value()
            case "--dispatch-entries": options.dispatchEntriesPerCentre = value()
            case "--dispatch-rounds": options.dispatchRounds = value()
            case "--latency-calls": options.latencyCalls = min(value(), 450)
            case "--hour-speed": options.hourSpeed = Double(value())
            case "--feedback-outcomes": options.feedbackOutcomes = value()
            case "--feedback-rounds": options.feedbackRounds = value()
            case "--report-attempts": options.reportAttempts = value()
            case "--only": options.only.insert(iterator.next() ?? "")
            case "--help", "-h":
                print("""
                sampark-bench [--messages N] [--size BYTES] [--rounds N] [--window N] [--prefetch N]
                              [--copy-rows N] [--ingest-rows N] [--ingest-rounds N] [--list-contacts N] [--list-rounds N]
                              [--dispatch-entries N] [--dispatch-rounds N] [--latency-calls N] [--hour-speed N]
                              [--feedback-outcomes N] [--feedback-rounds N] [--report-attempts N]
                              [--only amqp|copy|ingest|lists|dispatch|feedback|reports]
                Needs SAMPARK_TEST_AMQP_URL, SAMPARK_TEST_POSTGRES_URL, SAMPARK_BENCH_RABBITMQ_C and SAMPARK_BENCH_PSQL
                (make bench sets them).
                """)
                exit(0)
            default: fail("unknown argument \(argument) (try --help)")
            }
        }
        return options
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("sampark-bench: \(message)\n".utf8))
    exit(1)
}

func environment(_ name: String) -> String {
    guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
        fail("\(name) is not set; run through `make bench`")
    }
    return value
}

/// Runs a program and returns what it printed; fails the benchmark if it fails.
func runProgram(_ executable: String, _ arguments: [String], environment extra: [String: String] = [:]) -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    env.merge(extra) { _, new in new }
    process.environment = env
    let output = Pipe()
    process.standardOutput = output
    do { try process.run() } catch { fail("cannot run \(executable): \(error)") }
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { fail("\(executable) \(arguments.first ?? "") exited \(process.terminationStatus)") }
    return String(decoding: data, as: UTF8.self)
}

/// The plain rabbitmq-c program (Benchmarks/rabbitmq-c-baseline.c) on the broker at `url`:
/// `publish QUEUE COUNT SIZE WINDOW` or `consume QUEUE COUNT PREFETCH`; returns messages per second.
func rabbitmqC(_ binary: String, _ mode: String, url: String, queue: String, count: Int, _ rest: [Int]) throws -> Double {
    let configuration = try AMQPConfiguration(url: url)
    let output = runProgram(binary, [mode, configuration.host, String(configuration.port), configuration.user, configuration.password,
                                     queue, String(count)] + rest.map(String.init))
    guard let field = output.split(separator: " ").first(where: { $0.hasPrefix("seconds=") }),
          let elapsed = Double(field.dropFirst("seconds=".count).trimmingCharacters(in: .whitespacesAndNewlines)) else {
        fail("unexpected baseline output: \(output)")
    }
    return Double(count) / elapsed
}

/// Measures a Swift path and its baseline `rounds` times, alternating which goes first so
/// drift on this shared machine hits both alike. Before each side: `reset` (empty the table),
/// then CHECKPOINT through `pool`, so neither pays for the other's dirty pages and WAL. Each
/// side returns its rate; each round is printed with `names`.
func alternatingRounds(_ rounds: Int, names: (swift: String, baseline: String), unit: String, pool: PostgresPool,
                       reset: () async throws -> Void, swift: () async throws -> Double,
                       baseline: () async throws -> Double) async throws -> (swift: [Double], baseline: [Double]) {
    var swiftRates: [Double] = [], baselineRates: [Double] = []
    for round in 1...rounds {
        var swiftRate = 0.0, baselineRate = 0.0
        for swiftFirst in (round % 2 == 1 ? [false, true] : [true, false]) {
            try await reset()
            try await pool.execute("CHECKPOINT")
            if swiftFirst { swiftRate = try await swift() } else { baselineRate = try await baseline() }
        }
        swiftRates.append(swiftRate)
        baselineRates.append(baselineRate)
        print("round \(round): \(names.swift) \(Int(swiftRate.rounded())) \(unit), \(names.baseline) \(Int(baselineRate.rounded())) \(unit)")
    }
    return (swiftRates, baselineRates)
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

/// One row of the printed table.
struct BenchRow {
    let measure: String
    let unit: String
    let swift: [Double]
    let baseline: [Double]
    let baselineName: String
    let target: Double

    var ratio: Double { median(swift) / median(baseline) }
}

func printTable(_ rows: [BenchRow], title: String) {
    func format(_ value: Double) -> String { String(format: "%.0f", value) }
    print("")
    print(title)
    print("| measure | Swift client (median) | baseline (median) | baseline | ratio | target | rounds (Swift / baseline) |")
    print("|---|---:|---:|---|---:|---:|---|")
    for row in rows {
        let verdict = row.ratio >= row.target ? "met" : "NOT met"
        let rounds = row.swift.map(format).joined(separator: ", ") + " / " + row.baseline.map(format).joined(separator: ", ")
        print("| \(row.measure) (\(row.unit)) | \(format(median(row.swift))) | \(format(median(row.baseline))) | \(row.baselineName) | \(String(format: "%.2f", row.ratio))x | >= \(String(format: "%.2f", row.target))x \(verdict) | \(rounds) |")
    }
}

/// A database of one benchmark's own, migrated, on the test server: created fresh (dropping
/// what an interrupted run left), dropped at the end unless `SAMPARK_BENCH_KEEP=1` (to look
/// into a plan afterwards).
struct BenchDatabase {
    let name: String
    /// The database's URL, for the workers and psql.
    let url: String
    let pool: PostgresPool
    private let admin: PostgresPool

    static func fresh(_ name: String, postgresURL: String) async throws -> BenchDatabase {
        let admin = PostgresPool(configuration: try PostgresConfiguration(url: postgresURL), size: 1)
        try await drop(name, admin: admin)
        try await admin.execute("CREATE DATABASE \(name)")
        var configuration = try PostgresConfiguration(url: postgresURL)
        configuration.database = name
        guard let slash = postgresURL.range(of: "/", options: .backwards) else { fail("bad SAMPARK_TEST_POSTGRES_URL") }
        let pool = PostgresPool(configuration: configuration, size: 1)
        try await Migrator(pool: pool).migrate()
        return BenchDatabase(name: name, url: String(postgresURL[..<slash.lowerBound]) + "/" + name, pool: pool, admin: admin)
    }

    func close() async throws {
        await pool.shutdown()
        if ProcessInfo.processInfo.environment["SAMPARK_BENCH_KEEP"] != "1" { try await Self.drop(name, admin: admin) }
        await admin.shutdown()
    }

    /// A plain DROP stops an autovacuum worker still busy with a loaded table (FORCE may not:
    /// it needs the right to signal that process, and failed so); FORCE then ends any session
    /// an interrupted run left connected.
    private static func drop(_ name: String, admin: PostgresPool) async throws {
        do {
            try await admin.execute("DROP DATABASE IF EXISTS \(name)")
        } catch {
            try await admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        }
    }
}

/// The release binaries `make bench` builds beside this one.
let benchBinaries = Bundle.main.executableURL!.deletingLastPathComponent()

/// Starts one of the release binaries beside this one (a worker, or `sampark`) with
/// `environment`; its output goes nowhere unless `quiet` is false.
func startBinary(_ name: String, _ arguments: [String] = [], environment: [String: String], quiet: Bool = false) throws -> Process {
    let process = Process()
    process.executableURL = benchBinaries.appendingPathComponent(name)
    process.arguments = arguments
    process.environment = environment
    if quiet { process.standardOutput = FileHandle.nullDevice }
    try process.run()
    return process
}

/// CPU seconds (user and system) spent by this process's children that have ended and been
/// waited for: around a worker's start and stop, what the worker itself used.
func endedChildrenCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_CHILDREN.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// The fields of `/proc/<pid>/stat` after "pid (comm)": the state is the first (field 3 in
/// proc(5)'s numbering).
private func procStat(_ pid: Int) -> [Substring]? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return nil }
    return stat[stat.index(after: close)...].split(separator: " ")
}

/// CPU seconds spent by the ended children of process `pid` (its cutime and cstime, fields 16
/// and 17): of the PostgreSQL postmaster, what every backend that has disconnected used. A
/// worker's sessions end when it stops, so the difference around a run is the database's
/// share of the work. Needs the server on this machine, as every benchmark here has it.
func endedChildrenCPUSeconds(ofProcess pid: Int32) -> Double? {
    guard let fields = procStat(Int(pid)), fields.count > 14, let user = Double(fields[13]), let system = Double(fields[14]) else {
        return nil
    }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// The PostgreSQL server's postmaster: the parent (field 4) of this session's backend.
func postmasterPID(_ pool: PostgresPool) async throws -> Int32? {
    let backend = try await pool.query("SELECT pg_backend_pid()")[0].decode(Int.self, at: 0)
    guard let fields = procStat(backend), fields.count > 1 else { return nil }
    return Int32(fields[1])
}

/// Asks a process started by `startBinary` to stop (SIGTERM) and waits for it.
func stop(_ process: Process) {
    if process.isRunning { kill(process.processIdentifier, SIGTERM) }
    process.waitUntilExit()
}

/// What a worker or the CLI run by a benchmark needs: the servers, no fixed HTTP port, quiet
/// logs. `sampark topology` has declared the broker's side.
func workerEnvironment(amqpURL: String, database: BenchDatabase) -> [String: String] {
    var environment = ProcessInfo.processInfo.environment
    environment["SAMPARK_AMQP_URL"] = amqpURL
    environment["SAMPARK_POSTGRES_URL"] = database.url
    environment["SAMPARK_HTTP_PORT"] = "0"
    environment["SAMPARK_LOG_LEVEL"] = "warning"
    environment.merge(BenchPhones.environment) { $1 }
    _ = runProgram(benchBinaries.appendingPathComponent("sampark").path, ["topology"], environment: environment)
    return environment
}

/// Empties a work queue with its retry and dead-letter queues: messages an interrupted run
/// left behind would be handled in this run's database.
func purge(_ queue: Topology.WorkQueue, on amqp: AMQPConnection) async throws {
    for name in [queue.name, queue.deadQueue] + (1...RetryPolicy.default.delays.count).map({ RetryPolicy.delayQueue(for: queue.name, retry: $0) }) {
        try await amqp.purgeQueue(name)
    }
}

/// The phone keys of the benchmarks (the workers they start get the same): not secrets.
enum BenchPhones {
    static let keys = "1:" + Data((0..<32).map { UInt8(255 - $0) }).base64EncodedString()
    static let hashKey = "sampark-bench-phone-hash-key-0123456789abcdef"
    static let vault = try! PhoneVault(keys: keys, hashKey: hashKey)
    static let environment = [PhoneVault.keysVariable: keys, PhoneVault.hashKeyVariable: hashKey]

    /// SQL for the stored columns `phone_hash, phone_sealed, phone_tail` of the number an SQL
    /// text expression gives, for seeds of millions of rows: the keyed hash as the workers
    /// compute it (pgcrypto's HMAC is the same function), and a stand-in sealed value of the
    /// real size (key byte, nonce, 13 bytes, tag) for numbers these benches never open.
    /// `seal(table:)` replaces the stand-ins where a bench does open them.
    static func columns(_ number: String) -> String {
        "hmac(\(number), '\(hashKey)', 'sha256'), '\\x01'::bytea || gen_random_bytes(41), right(\(number), 4)"
    }

    /// Seals for real the numbers of `table` whose id gives the number (`number(id)`), in
    /// batches: what the ingest-worker would have stored.
    static func seal(table: String, ids: ClosedRange<Int>, number: (Int) -> String, on connection: PostgresConnection) throws {
        var start = ids.lowerBound
        while start <= ids.upperBound {
            let slice = start...min(start + 9_999, ids.upperBound)
            try connection.execute("""
                UPDATE \(table) t SET phone_sealed = u.s FROM unnest($1::bigint[], $2::bytea[]) AS u(id, s) WHERE t.id = u.id
                """, [slice.map { Int64($0) }, slice.map { Data(vault.seal(number($0))) }])
            start = slice.upperBound + 1
        }
    }
}
