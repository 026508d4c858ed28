import Foundation
import Testing
import SamparkTestSupport

/// The broker restarts in the middle of a run: every worker recovers with no human action and
/// the day's report still adds up. (Disruptive: it runs alone, after every other test.)
@Suite(.serialized) struct EndToEndDisruptiveTests {
    @Test func aBrokerRestartMidRunLosesNothingAndTheReportAddsUp() async throws {
        let cluster = try Cluster()
        try await cluster.prepare()
        do {
            try cluster.startAll()
            let calls = try await WorkerFaultTests.loadAndBuild(cluster)
            // The desks take the calls slowly enough that the restart lands mid-run; they
            // wait out the broker's absence (a long --idle) and reconnect by themselves.
            async let drg = cluster.deskSim("DRG-01", idle: 25, agents: 2, timeout: .seconds(240))
            async let cdw = cluster.deskSim("CDW-01", idle: 25, agents: 2, timeout: .seconds(240))
            #expect(try await eventually(timeout: .seconds(60)) {
                try await cluster.query("SELECT count(*) FROM attempts", as: Int.self) > 0
            })
            try TestEnvironment.services("restart-rabbitmq")
            let desks = try await [drg, cdw]
            for desk in desks { #expect(desk.status == 0, "\(desk.output)") }

            #expect(try await eventually(timeout: .seconds(90)) {
                try await cluster.query("SELECT count(*) FROM attempts", as: Int.self) == calls
            }, "every call's outcome recorded, once")
            #expect(try await cluster.query("SELECT coalesce(sum(attempts), 0)::int FROM shift_aggregates", as: Int.self) == calls)

            let (report, output) = try await cluster.requestDailyReport()
            let totals = report?["totals"] as? [String: Int]
            #expect(totals?["attempts"] == calls, "\(output)")
            for worker in Cluster.workers {
                #expect(cluster.log(of: worker).contains("reconnected to RabbitMQ"), "\(worker) reconnected by itself")
            }
            let statuses = await cluster.tearDown()
            #expect(statuses.values.allSatisfy { $0 == 0 }, "\(statuses)")
        } catch {
            await cluster.tearDown()
            throw error
        }
    }
}
