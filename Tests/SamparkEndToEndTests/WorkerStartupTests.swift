import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import SamparkTestSupport

/// What ops see of a worker process: a bad setting stops it at once with the variable named;
/// a running one answers /health/live, /health/ready and /metrics, and its metrics count what it
/// handled.
@Suite struct WorkerStartupTests {
    @Test func aBadSettingStopsTheWorkerNamingTheVariable() throws {
        let process = Process()
        process.executableURL = Cluster.binDirectory.appendingPathComponent("reporter")
        var environment = ProcessInfo.processInfo.environment
        environment["SAMPARK_PREFETCH"] = "lots"
        environment["SAMPARK_POSTGRES_URL"] = "postgres://sampark:hunter2@127.0.0.1:1/x"
        process.environment = environment
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 64)
        #expect(text.contains("SAMPARK_PREFETCH"), "\(text)")
        #expect(text.contains("1 to 10000") || text.contains("1...10000") || text.contains("whole number"), "\(text)")
        #expect(!text.contains("hunter2"))
    }

    @Test func aRunningWorkerServesHealthAndMetricsThatCountItsWork() async throws {
        let cluster = try Cluster()
        try await cluster.prepare()
        do {
            try cluster.start("ingest-worker")
            // The port it bound (SAMPARK_HTTP_PORT=0) is in its "health server listening" line.
            var port: Int?
            _ = await eventually(timeout: .seconds(30)) {
                port = Self.boundPort(in: cluster.log(of: "ingest-worker"))
                return port != nil
            }
            let base = "http://127.0.0.1:\(try #require(port))"
            #expect(try await Self.get("\(base)/health/live").status == 200)
            #expect(await eventually { (try? await Self.get("\(base)/health/ready").status) == 200 })

            let file = try Scenario.write(Scenario.orgUnits, named: "units.csv", in: cluster.logDirectory)
            let load = try await cluster.cli(["load", "org_units", file])
            #expect(load.status == 0, "\(load.output)")
            let metrics = try await Self.get("\(base)/metrics")
            #expect(metrics.status == 200)
            let handled = metrics.body.split(separator: "\n").first {
                $0.hasPrefix("sampark_messages_handled_total") && $0.contains("ingest.batch.v1")
            }
            #expect(handled.map { $0.hasSuffix(" 1") } == true, "one batch handled: \(handled ?? "none")")
            #expect(metrics.body.contains("# HELP sampark_handler_duration_seconds"))
            #expect(metrics.body.contains("sampark_queue_lag_seconds"))

            // No line it logged holds a phone number or a password.
            let log = cluster.log(of: "ingest-worker")
            #expect(log.range(of: #"[0-9]{7,}"#, options: .regularExpression) == nil)
            #expect(!log.contains("sampark:sampark@"))
            #expect(await cluster.stop("ingest-worker") == 0)
            await cluster.tearDown()
        } catch {
            await cluster.tearDown()
            throw error
        }
    }

    static func boundPort(in log: String) -> Int? {
        for line in log.split(separator: "\n") where line.contains("health server listening") {
            if let range = line.range(of: #""http_port":"[0-9]+""#, options: .regularExpression) {
                return Int(line[range].dropFirst(13).dropLast())
            }
        }
        return nil
    }

    static func get(_ url: String) async throws -> (status: Int, body: String) {
        var request = URLRequest(url: URL(string: url)!)
        request.timeoutInterval = 10
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }
}
