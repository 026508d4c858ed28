import Foundation
import Testing
import SamparkTestSupport

/// In flight (issue 9, docs/security.md): the whole fleet as compose.tls.yaml runs it, every
/// process verifying both servers' certificates and names against a CA made for the test. The
/// CLI migrates, loads and asks for a list; the workers apply, build and dispatch it; and every
/// session the database holds for this cluster is encrypted (the broker's TLS port speaks
/// nothing else).
@Suite struct WorkersOverTLSTests {
    @Test func theFleetWorksOverVerifiedTLSToBothServers() async throws {
        let cluster = try Cluster(tls: true)
        #expect(cluster.amqpURL.hasPrefix("amqps://") && cluster.postgresURL.contains("sslmode=verify-full"))
        try await cluster.prepare()
        do {
            try cluster.startAll()
            let dir = cluster.logDirectory
            for (source, text, name) in [("org_units", Scenario.orgUnits, "org_units.csv"), ("call_centres", Scenario.callCentres, "centres.csv"),
                                         ("poll_calendar", Scenario.pollCalendar, "poll_calendar.csv"), ("contacts", Scenario.contacts, "contacts.csv"),
                                         ("opt_outs", Scenario.optOuts, "opt_outs.csv")] {
                let load = try await cluster.cli(["load", source, try Scenario.write(text, named: name, in: dir)])
                #expect(load.status == 0, "\(load.output)")
            }
            let list = try await cluster.cli(["list", "build", try Scenario.write(Scenario.pollingDayRequest, named: "gotv.json", in: dir), "--wait"])
            #expect(list.status == 0, "\(list.output)")
            #expect(try await cluster.query("SELECT count(*)::int FROM list_entries", as: Int.self) == Scenario.pollingDayCalls)
            // The five workers each hold sessions, all encrypted, as is every other session here.
            let sessions = """
                SELECT count(DISTINCT a.application_name)::int FROM pg_stat_activity a JOIN pg_stat_ssl s ON s.pid = a.pid
                WHERE a.datname = current_database() AND s.ssl AND a.application_name IN ('\(Cluster.workers.joined(separator: "', '"))')
                """
            #expect(try await eventually(timeout: .seconds(30)) { try await cluster.query(sessions, as: Int.self) == Cluster.workers.count })
            #expect(try await cluster.query("""
                SELECT count(*)::int FROM pg_stat_activity a JOIN pg_stat_ssl s ON s.pid = a.pid
                WHERE a.datname = current_database() AND NOT s.ssl
                """, as: Int.self) == 0, "no session in clear")
        } catch {
            Issue.record(error)
        }
        let statuses = await cluster.tearDown()
        for (worker, status) in statuses { #expect(status == 0, "\(worker) exited \(String(describing: status))") }
    }
}
