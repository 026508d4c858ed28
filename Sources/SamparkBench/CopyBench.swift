import Foundation
import SamparkPostgres

/// COPY throughput of the Swift client beside `psql \copy` of the same CSV file into the
/// same table (same primary key and indexes), truncated before each load, alternating which
/// goes first in each round so drift hits both alike. Both read the file as they load it.
struct CopyBench {
    let options: BenchOptions
    let url: String
    let psql: String

    private let table = "bench_copy_contacts"

    func run() async throws -> [BenchRow] {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sampark-bench-copy-\(getpid()).csv")
        defer { try? FileManager.default.removeItem(at: file) }
        try writeRows(to: file)
        let pool = PostgresPool(configuration: try PostgresConfiguration(url: url), size: 1)
        try await pool.withConnection { [table] conn in
            try conn.executeScript("""
                DROP TABLE IF EXISTS \(table);
                CREATE TABLE \(table) (
                    id bigint PRIMARY KEY,
                    phone text NOT NULL,
                    name text NOT NULL,
                    unit_code text NOT NULL,
                    role text,
                    registered_on date NOT NULL
                );
                CREATE INDEX \(table)_phone ON \(table) (phone);
                CREATE INDEX \(table)_unit ON \(table) (unit_code);
                """)
        }
        func rowsStored() async throws -> Int { try await pool.query("SELECT count(*) FROM \(table)")[0].decode(Int.self, at: 0) }
        let (swiftRates, psqlRates) = try await alternatingRounds(
            options.rounds, names: ("COPY Swift", "psql \\copy"), unit: "rows/s", pool: pool,
            reset: { try await pool.execute("TRUNCATE \(table)") },
            swift: {
                let start = ContinuousClock.now
                let stored = try await pool.copyIn("COPY \(table) FROM STDIN WITH (FORMAT csv)", chunks: FileChunks(path: file.path))
                let rate = Double(options.copyRows) / seconds(since: start)
                let count = try await rowsStored()
                if stored != options.copyRows || count != options.copyRows { fail("COPY stored \(stored) rows, expected \(options.copyRows)") }
                return rate
            },
            baseline: {
                let start = ContinuousClock.now
                _ = runProgram(psql, [url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", "\\copy \(table) FROM '\(file.path)' WITH (FORMAT csv)"])
                let rate = Double(options.copyRows) / seconds(since: start)
                let count = try await rowsStored()
                if count != options.copyRows { fail("psql left \(count) rows, expected \(options.copyRows)") }
                return rate
            })
        try await pool.execute("DROP TABLE \(table)")
        await pool.shutdown()
        return [BenchRow(measure: "COPY FROM STDIN, \(options.copyRows) CSV rows, table with primary key and 2 indexes",
                         unit: "rows/s", swift: swiftRates, baseline: psqlRates, baselineName: "psql \\copy", target: 0.95)]
    }

    /// Rows shaped like the contacts Sampark loads: an id, a phone, a name, a unit, a role, a date.
    private func writeRows(to file: URL) throws {
        guard FileManager.default.createFile(atPath: file.path, contents: nil) else { fail("cannot create \(file.path)") }
        let handle = try FileHandle(forWritingTo: file)
        defer { try? handle.close() }
        let roles = ["booth president", "shakti kendra pramukh", "mandal secretary", "karyakarta", ""]
        var buffer = ""
        buffer.reserveCapacity(1 << 20)
        for i in 0..<options.copyRows {
            let phone = 9_000_000_000 + (i &* 7919) % 999_999_999
            let role = roles[i % roles.count]
            let day = 1 + i % 28
            buffer += "\(i),+91\(phone),\"Name \(i), Surname\",AC\(i % 300)-B\(i % 250),\(role),2024-02-\(day < 10 ? "0" : "")\(day)\n"
            if buffer.utf8.count > (1 << 20) - 256 {
                try handle.write(contentsOf: Data(buffer.utf8))
                buffer.removeAll(keepingCapacity: true)
            }
        }
        try handle.write(contentsOf: Data(buffer.utf8))
    }
}

/// A file read in 256 KiB chunks as it is consumed (COPY need not align chunks with rows).
struct FileChunks: Sequence, Sendable {
    let path: String

    func makeIterator() -> Iterator { Iterator(handle: FileHandle(forReadingAtPath: path)) }

    struct Iterator: IteratorProtocol {
        let handle: FileHandle?
        mutating func next() -> [UInt8]? {
            guard let handle else { fail("cannot read the benchmark file") }
            guard let data = try? handle.read(upToCount: 256 * 1024), !data.isEmpty else {
                try? handle.close()
                return nil
            }
            return [UInt8](data)
        }
    }
}
