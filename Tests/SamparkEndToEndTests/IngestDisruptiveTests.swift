import Foundation
import Testing
import SamparkTestSupport

/// Two ingest-workers apply a load while one or the other is killed (SIGKILL) five times at
/// random points: after the restarts the tables hold exactly the distinct valid rows, every
/// batch counts once, and the report adds up. (Disruptive: it runs alone.)
@Suite(.serialized) struct IngestDisruptiveTests {
    @Test func killingIngestWorkersMidLoadLosesNothingAndCountsNothingTwice() async throws {
        let cluster = try Cluster()
        try await cluster.prepare()
        do {
            try cluster.start("ingest-worker")
            try cluster.start("ingest-worker-2", executable: "ingest-worker")
            let dir = cluster.logDirectory
            let units = try await cluster.cli(["load", "org_units", try Scenario.write(Scenario.orgUnits, named: "org_units.csv", in: dir)])
            #expect(units.status == 0, "\(units.output)")

            // Voters keyed by EPIC; every 50th row has a bad phone, every 50th an unknown booth,
            // every 100th repeats the row before it exactly.
            let rows = 20_000
            var lines = ["name,phone,booth_code,epic,ac_number,part_number,serial_number"]
            var valid = 0, repeats = 0, bad = 0
            var previous = ""
            for i in 0..<rows {
                let line: String
                switch i {
                case _ where i % 50 == 7: line = "Bad \(i),12345,B-1,,,,"; bad += 1
                case _ where i % 50 == 13: line = "Lost \(i),98\(String(format: "%08d", i)),B-404,,,,"; bad += 1
                case _ where i % 100 == 21: line = previous; repeats += 1
                default:
                    line = "Voter \(i),98\(String(format: "%08d", i / 2)),B-\(1 + i % 5),CGT\(String(format: "%07d", i)),62,\(1 + i % 5),\(i + 1)"
                    valid += 1
                }
                lines.append(line)
                previous = line
            }
            let file = try Scenario.write(lines.joined(separator: "\n") + "\n", named: "voters.csv", in: dir)
            let load = cluster.cliInBackground(["load", "contacts", file, "--batch-size", "100", "--timeout", "180"])

            var kills = 0, storedAtLastKill = 0
            for round in 0..<5 {
                // Wait for progress since the last kill, then kill at a random moment of it.
                let target = storedAtLastKill + 500
                #expect(try await eventually(timeout: .seconds(120)) {
                    try await cluster.query("SELECT count(*) FROM contacts", as: Int.self) >= target
                })
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...300)))
                let finished = try await cluster.query("SELECT count(*) FROM ingest_loads WHERE source = 'contacts' AND finished_at IS NOT NULL",
                                                       as: Int.self)
                guard finished == 0 else { break }
                let victim = round % 2 == 0 ? "ingest-worker" : "ingest-worker-2"
                await cluster.stop(victim, signal: SIGKILL)
                kills += 1
                storedAtLastKill = try await cluster.query("SELECT count(*) FROM contacts", as: Int.self)
                try cluster.start(victim, executable: "ingest-worker")
            }
            #expect(kills == 5, "every kill landed mid-load")

            let result = try await load.value
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("\(rows) rows read: \(valid) inserted, 0 updated, \(repeats) unchanged, \(bad) rejected"),
                    "\(result.output)")
            #expect(try await cluster.query("SELECT count(*) FROM contacts", as: Int.self) == valid, "exactly the distinct valid rows")
            #expect(try await cluster.query("SELECT count(DISTINCT epic) FROM contacts", as: Int.self) == valid)
            #expect(try await cluster.query("""
                SELECT count(*) FROM ingest_loads WHERE source = 'contacts' AND finished_at IS NOT NULL
                  AND batches_done = batches_total AND batches_total = \(rows / 100) AND rows_read = \(rows)
                  AND inserted = \(valid) AND unchanged = \(repeats) AND rejected = \(bad)
                """, as: Int.self) == 1, "each batch counted once")
            #expect(try await cluster.query("""
                SELECT count(*) FROM ingest_rejects r JOIN ingest_loads l USING (load_id) WHERE l.source = 'contacts'
                """, as: Int.self) == bad)
            await cluster.tearDown()
        } catch {
            await cluster.tearDown()
            throw error
        }
    }
}
