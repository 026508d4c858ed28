import Foundation
import Testing
import SamparkTestSupport

/// State IT's view (docs/consumers.md): the Python consumer of examples/state-it, with pika and
/// the published JSON Schemas only, binds report.daily.MP.# and receives exactly Madhya
/// Pradesh's reports (its districts' and its state report), none of another state's or the
/// nation's; each validates against its schema; a re-run arrives under the same report ids.
@Suite struct StateConsumerTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let twoStates = """
        level,code,name,parent_code
        state,MP,Madhya Pradesh,
        district,DRG,Durg,MP
        ac,AC-62,Durg Gramin,DRG
        booth,B-1,Booth 1,AC-62
        district,CDW,Chhindwara,MP
        ac,AC-126,Chhindwara,CDW
        booth,B-4,Booth 4,AC-126
        state,CG,Chhattisgarh,
        district,RPR,Raipur,CG
        ac,AC-49,Raipur City,RPR
        booth,B-7,Booth 7,AC-49

        """

    @Test func aQueueBoundToOneStateGetsExactlyThatStatesReports() async throws {
        let cluster = try Cluster()
        try await cluster.prepare()
        do {
            try cluster.start("ingest-worker")
            try cluster.start("reporter")
            let units = try await cluster.cli(["load", "org_units", try Scenario.write(Self.twoStates, named: "units.csv", in: cluster.logDirectory)])
            #expect(units.status == 0, "\(units.output)")

            let ready = cluster.logDirectory.appendingPathComponent("consumer.ready")
            let consumer = Task {
                try await cluster.run(URL(fileURLWithPath: "/usr/bin/env"), [
                    "python3", Self.root.appendingPathComponent("examples/state-it/consumer.py").path,
                    "--url", cluster.amqpURL, "--state", "MP", "--schemas", Self.root.appendingPathComponent("schemas/messages").path,
                    "--queue", "state-it.MP.test", "--idle", "6", "--ready-file", ready.path,
                ], timeout: .seconds(120))
            }
            #expect(try await eventually(timeout: .seconds(30)) { FileManager.default.fileExists(atPath: ready.path) }, "the consumer bound its queue")
            let first = try await cluster.cli(["report", "request", "--all"])
            #expect(first.status == 0, "\(first.output)")
            #expect(first.output.contains("published 6 reports"), "CDW, DRG, RPR, the two states and the nation: \(first.output)")
            let second = try await cluster.cli(["report", "request", "--all"])
            #expect(second.status == 0, "\(second.output)")

            let result = try await consumer.value
            #expect(result.status == 0, "\(result.output)")
            #expect(!result.output.contains("refused"), "every report valid against its published schema: \(result.output)")
            let lines = result.output.split(separator: "\n").compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
            }
            let day = try #require(first.output.firstMatch(of: /for (\d{4}-\d{2}-\d{2})/)).1
            #expect(lines.count == 6, "three reports, published twice: \(result.output)")
            #expect(Set(lines.compactMap { $0["report_id"] as? String }) == ["daily/\(day)/CDW", "daily/\(day)/DRG", "daily/\(day)/MP"])
            #expect(Set(lines.compactMap { $0["routing_key"] as? String }) == ["report.daily.MP.CDW", "report.daily.MP.DRG", "report.daily.MP.all"])
            #expect(lines.compactMap { $0["versions"] as? Int }.max() == 2, "the re-run came under the same ids")
            await cluster.tearDown()
        } catch {
            for worker in ["ingest-worker", "reporter"] { print("---- \(worker)\n\(cluster.log(of: worker).suffix(3000))") }
            await cluster.tearDown()
            throw error
        }
    }
}
