import Foundation
import SamparkAMQP
import SamparkPostgres
import SamparkRuntime
import SamparkSchema

/// End-to-end ingest beside its floor: a voters file as operators bring it (phones written
/// every way, schemes as lists), through `sampark load` and two ingest-workers (validated,
/// deduplicated, merged into `contacts`), beside `psql \copy` of the same rows already clean
/// into the same table with the same indexes and constraints. Each round empties the table and
/// checkpoints before each side, alternating which goes first.
struct IngestBench {
    let options: BenchOptions
    let amqpURL: String
    let postgresURL: String
    let psql: String

    private let database = "sampark_bench_ingest"
    private let booths = 250

    func run() async throws -> [BenchRow] {
        let rows = options.ingestRows
        let db = try await BenchDatabase.fresh(database, postgresURL: postgresURL)
        let pool = db.pool, url = db.url
        try await pool.withConnection { [booths] conn in
            // One state, 10 assembly constituencies, 25 booths each (ids fixed, so the clean
            // file can name them).
            try conn.executeScript("""
                INSERT INTO org_units (id, level, code, name, parent_id, path, state_id) VALUES (1, 'state', 'CG', 'Chhattisgarh', NULL, '1', 1);
                INSERT INTO org_units (id, level, code, name, parent_id, path, state_id)
                    SELECT 1 + a, 'ac', 'AC-' || a, 'AC ' || a, 1, text2ltree('1.' || (1 + a)), 1 FROM generate_series(1, 10) a;
                INSERT INTO org_units (id, level, code, name, parent_id, path, state_id)
                    SELECT 100 + b, 'booth', 'B-' || (1 + b / 25) || '-' || (1 + b % 25), 'Booth ' || b, 2 + b / 25,
                           text2ltree('1.' || (2 + b / 25) || '.' || (100 + b)), 1
                    FROM generate_series(0, \(booths - 1)) b;
                SELECT setval(pg_get_serial_sequence('org_units', 'id'), 1000);
                """)
        }

        let directory = FileManager.default.temporaryDirectory
        let raw = directory.appendingPathComponent("sampark-bench-voters-\(getpid()).csv")
        let clean = directory.appendingPathComponent("sampark-bench-voters-clean-\(getpid()).csv")
        defer {
            try? FileManager.default.removeItem(at: raw)
            try? FileManager.default.removeItem(at: clean)
        }
        try writeFiles(rows: rows, raw: raw, clean: clean)
        print("ingest: \(rows) voters, \(fileSize(raw) / 1_000_000) MB as written, \(fileSize(clean) / 1_000_000) MB clean")

        let environment = workerEnvironment(amqpURL: amqpURL, database: db)
        let amqp = try await AMQPConnection.connect(try AMQPConfiguration(url: amqpURL))
        try await purge(Topology.ingestBatches, on: amqp)
        await amqp.close()
        let workers = try (1...2).map { _ in
            try startBinary("ingest-worker", environment: environment)
        }
        defer {
            for worker in workers where worker.isRunning { kill(worker.processIdentifier, SIGTERM) }
            for worker in workers { worker.waitUntilExit() }
        }
        try await Task.sleep(for: .seconds(3))    // both consuming before the first load

        let columns = "name, phone_hash, phone_sealed, phone_tail, phone_kind, booth_id, state_id, gender, age, language, epic, ac_number, part_number, serial_number, house_number, schemes"
        func contactsStored() async throws -> Int { try await pool.query("SELECT count(*) FROM contacts")[0].decode(Int.self, at: 0) }
        let (swiftRates, psqlRates) = try await alternatingRounds(
            options.ingestRounds, names: ("sampark load + 2 ingest-workers", "psql \\copy"), unit: "rows/s", pool: pool,
            reset: { try await pool.execute("TRUNCATE contacts, ingest_rejects, ingest_loads, inbox, outbox CASCADE") },
            swift: {
                let workersBefore = workers.map(cpuSeconds).reduce(0, +), cliBefore = childrenCPU()
                let start = ContinuousClock.now
                let output = runProgram(benchBinaries.appendingPathComponent("sampark").path,
                                        ["load", "contacts", raw.path, "--timeout", "600"], environment: environment)
                let rate = Double(rows) / seconds(since: start)
                // Where the time goes (this machine has 2 cores for everything: the CLI, the
                // workers, PostgreSQL and RabbitMQ).
                print(String(format: "  CPU: sampark load %.1f s (peak memory %d MB), ingest-workers %.1f s, wall %.1f s",
                             childrenCPU() - cliBefore, childrenPeakMB(), workers.map(cpuSeconds).reduce(0, +) - workersBefore,
                             Double(rows) / rate))
                let stored = try await contactsStored()
                guard output.contains("\(rows) rows read: \(rows) inserted, 0 updated, 0 unchanged, 0 rejected"), stored == rows else {
                    throw BenchFailure("sampark load did not store every row:\n\(output.suffix(2000))")
                }
                return rate
            },
            baseline: {
                let start = ContinuousClock.now
                _ = runProgram(psql, [url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                                      "\\copy contacts (\(columns)) FROM '\(clean.path)' WITH (FORMAT csv)"])
                let rate = Double(rows) / seconds(since: start)
                let count = try await contactsStored()
                if count != rows { throw BenchFailure("psql left \(count) contacts, expected \(rows)") }
                return rate
            })
        for worker in workers { kill(worker.processIdentifier, SIGTERM) }
        for worker in workers { worker.waitUntilExit() }
        try await db.close()
        return [BenchRow(measure: "voters file, \(rows) rows, end to end: sampark load + 2 ingest-workers (validate, dedupe, merge) vs the same rows clean",
                         unit: "rows/s", swift: swiftRates, baseline: psqlRates, baselineName: "psql \\copy into contacts", target: 1.0)]
    }

    /// The file as operators bring it, and the same rows as `contacts` stores them.
    private func writeFiles(rows: Int, raw: URL, clean: URL) throws {
        guard FileManager.default.createFile(atPath: raw.path, contents: nil),
              FileManager.default.createFile(atPath: clean.path, contents: nil) else { fail("cannot create the voters files") }
        let rawHandle = try FileHandle(forWritingTo: raw), cleanHandle = try FileHandle(forWritingTo: clean)
        defer {
            try? rawHandle.close()
            try? cleanHandle.close()
        }
        var rawText = "name,phone,booth_code,gender,age,language,epic,ac_number,part_number,serial_number,house_number,schemes\n"
        var cleanText = ""
        for i in 0..<rows {
            let household = i / 3                      // three voters share each phone
            let digits = String(9_000_000_000 + (household &* 7919) % 999_999_999)
            let written: String
            switch i % 4 {
            case 0: written = "\(digits.prefix(5)) \(digits.suffix(5))"
            case 1: written = "+91-\(digits)"
            case 2: written = "0\(digits.prefix(5))-\(digits.suffix(5))"
            default: written = digits
            }
            let booth = i % booths
            let ac = 1 + booth / 25, part = 1 + booth % 25
            let serial = 1 + i / booths               // the voter's place in its part's roll
            let gender = i % 2 == 0 ? "F" : "M"
            let age = 18 + i % 70
            let epic = "CGB" + String(format: "%07d", i)
            let schemes = i % 4 == 0 ? "ujjwala;pm_kisan" : ""
            let name = i % 5 == 0 ? "मतदाता \(i)" : "Voter \(i), Family \(household)"
            rawText += "\"\(name)\",\(written),B-\(ac)-\(part),\(gender),\(age),hi,\(epic),\(ac),\(part),\(serial),\(household),\(schemes)\n"
            // As contacts stores the number: hash and sealed (bytea hex, as CSV takes it), last digits.
            let stored = BenchPhones.vault.stored("+91\(digits)")
            cleanText += "\"\(name)\",\(stored.hash),\(stored.sealed),\(stored.tail),mobile,\(100 + booth),1,\(gender),\(age),hi,\(epic),\(ac),\(part),\(serial),\(household),\(i % 4 == 0 ? "\"{ujjwala,pm_kisan}\"" : "{}")\n"
            if rawText.utf8.count > 1 << 20 {
                try rawHandle.write(contentsOf: Data(rawText.utf8))
                try cleanHandle.write(contentsOf: Data(cleanText.utf8))
                rawText = ""
                cleanText = ""
            }
        }
        try rawHandle.write(contentsOf: Data(rawText.utf8))
        try cleanHandle.write(contentsOf: Data(cleanText.utf8))
    }

    private func fileSize(_ url: URL) -> Int {
        (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
    }
}

/// A failed measurement, thrown (not `fail`ed) where worker processes must be stopped first.
struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// CPU seconds (user + system) a running process has used, from /proc.
func cpuSeconds(_ process: Process) -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
          let end = stat.lastIndex(of: ")") else { return 0 }
    let fields = stat[stat.index(after: end)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// CPU seconds of the finished child processes (the CLI runs), and their peak memory.
func childrenCPU() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_CHILDREN.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

func childrenPeakMB() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_CHILDREN.rawValue, &usage)
    return usage.ru_maxrss / 1024
}
