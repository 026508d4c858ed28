import Foundation
import Testing
import SamparkAMQP
import SamparkRuntime
import SamparkTestSupport

/// Workers killed or stopped at bad moments, as real processes: nothing lost, nothing counted
/// twice. (The broker restart is in EndToEndDisruptiveTests: it disturbs every test.)
@Suite struct WorkerFaultTests {
    /// Loads the scenario and builds the list; returns the number of calls.
    static func loadAndBuild(_ cluster: Cluster) async throws -> Int {
        let dir = cluster.logDirectory
        for (source, text, name) in [("org_units", Scenario.orgUnits, "org_units.csv"), ("call_centres", Scenario.callCentres, "centres.csv"),
                                     ("opt_outs", Scenario.optOuts, "opt_outs.csv"), ("contacts", Scenario.contacts, "contacts.csv"),
                                     ("poll_calendar", Scenario.pollCalendar, "poll_calendar.csv")] {
            let load = try await cluster.cli(["load", source, try Scenario.write(text, named: name, in: dir)])
            guard load.status == 0 else { throw ClusterError("load \(source): \(load.output)") }
        }
        let list = try await cluster.cli(["list", "build", try Scenario.write(Scenario.pollingDayRequest, named: "gotv.json", in: dir), "--wait"])
        guard list.status == 0 else { throw ClusterError("list build: \(list.output)") }
        return Scenario.pollingDayCalls
    }

    @Test func anAggregatorKilledBetweenCommitAndAckCountsEveryOutcomeOnce() async throws {
        let cluster = try Cluster()
        try await cluster.prepare()
        do {
            for worker in Cluster.workers where worker != "feedback-aggregator" { try cluster.start(worker) }
            // This one dies (SIGKILL, from inside) right after its 5th commit, before the ack.
            try cluster.start("feedback-aggregator", extraEnvironment: ["SAMPARK_FAULT_KILL_AFTER_COMMIT": "5"])
            let calls = try await Self.loadAndBuild(cluster)
            async let drg = cluster.deskSim("DRG-01")
            async let cdw = cluster.deskSim("CDW-01")
            _ = try await [drg, cdw]

            #expect(await cluster.exitStatus(of: "feedback-aggregator") == 128 + SIGKILL, "it died as planned")
            #expect(cluster.log(of: "feedback-aggregator").contains("fault injection"))
            let before = try await cluster.query("SELECT count(*) FROM attempts", as: Int.self)
            // Five, or a few more: handlers run four at a time, and others may commit while the
            // fifth's commit is killing the process. None of those was acked either.
            #expect(before >= 5 && before < calls, "committed before the kill: \(before)")

            // A fresh aggregator gets the unacked deliveries again, the fifth among them.
            try cluster.start("feedback-aggregator")
            #expect(try await eventually { try await cluster.query("SELECT count(*) FROM attempts", as: Int.self) == calls })
            try await Task.sleep(for: .seconds(2))   // anything still to come would come now
            #expect(try await cluster.query("SELECT count(*) FROM attempts", as: Int.self) == calls, "each outcome once")
            #expect(try await cluster.query("SELECT coalesce(sum(attempts), 0)::int FROM shift_aggregates", as: Int.self) == calls,
                    "the aggregates count each outcome once")
            // The ledger is the aggregator's inbox: what it took shows in the queue, left empty.
            let amqp = try await AMQPConnection.connect(url: cluster.amqpURL)
            #expect(try await amqp.inspectQueue(Topology.callOutcomes.name).messageCount == 0, "every outcome taken")
            await amqp.close()
            let statuses = await cluster.tearDown()
            #expect(statuses.values.allSatisfy { $0 == 0 }, "\(statuses)")
        } catch {
            await cluster.tearDown()
            throw error
        }
    }

    /// The dispatcher is killed (SIGKILL) twice while the desks hold offers and more are
    /// being made: no entry is ever offered twice (the database allows one live offer per
    /// entry, and the desks see each attempt once), no offer is lost (the restarted
    /// dispatcher's relay publishes what the dead one committed, and the outcomes it missed
    /// wait in its queue), and no entry takes more attempts than its campaign allows.
    @Test func aDispatcherKilledWithOffersInFlightLosesNoneAndOffersNoneTwice() async throws {
        let cluster = try Cluster()
        try await cluster.prepare()
        do {
            for worker in Cluster.workers where worker != "reporter" { try cluster.start(worker) }
            let calls = try await Self.loadAndBuild(cluster)
            // Calls of a second or two, three agents a centre: offers are out when it dies. A
            // retry waits an hour, so each entry is offered once in this test.
            func desk(_ centre: String) async throws -> (status: Int32, output: String) {
                try await cluster.cli(["desk-sim", "--centre", centre, "--idle", "15", "--agents", "3", "--talk", "1.5", "--ring", "1",
                                       "--wrap-up", "0.2"], timeout: .seconds(300))
            }
            async let drg = desk("DRG-01")
            async let cdw = desk("CDW-01")
            for kill in 1...2 {
                #expect(try await eventually(timeout: .seconds(90)) {
                    let live = try await cluster.query("SELECT count(*)::int FROM offers WHERE state = 'live'", as: Int.self)
                    let made = try await cluster.query("SELECT count(*)::int FROM attempts", as: Int.self)
                    return live > 0 && made >= kill * 8
                }, "kill \(kill): offers are out")
                await cluster.stop("dialer-dispatcher", signal: SIGKILL)
                try await Task.sleep(for: .milliseconds(Int.random(in: 200...1500)))
                try cluster.start("dialer-dispatcher")
            }
            let desks = try await [drg, cdw]
            for desk in desks { #expect(desk.status == 0, "\(desk.output)") }

            #expect(try await eventually(timeout: .seconds(60)) {
                try await cluster.query("SELECT count(*)::int FROM attempts", as: Int.self) == calls
            }, "every call made and recorded")
            #expect(try await cluster.query("SELECT count(*)::int FROM offers", as: Int.self) == calls, "one offer per entry")
            #expect(try await cluster.query("SELECT count(DISTINCT entry_id)::int FROM offers", as: Int.self) == calls, "none offered twice")
            #expect(try await cluster.query("SELECT count(*)::int FROM offers WHERE state <> 'answered'", as: Int.self) == 0,
                    "none lost: every offer reached a desk and was answered")
            #expect(try await cluster.query("SELECT count(DISTINCT offer_id)::int FROM attempts", as: Int.self) == calls,
                    "each attempt recorded once")
            #expect(try await cluster.query("SELECT count(*)::int FROM list_entries WHERE state IN ('pending', 'offered')", as: Int.self) == 0,
                    "every entry settled")
            #expect(try await cluster.query("SELECT coalesce(max(attempts), 0) FROM list_entries", as: Int.self) == 1)
            #expect(try await cluster.query("""
                SELECT count(*)::int FROM list_entries e JOIN call_lists l ON l.id = e.list_id JOIN campaigns k ON k.id = l.campaign_id
                WHERE e.attempts > k.max_attempts
                """, as: Int.self) == 0)
            let statuses = await cluster.tearDown()
            #expect(statuses["dialer-dispatcher"] == 0, "\(statuses)")
        } catch {
            print(cluster.log(of: "dialer-dispatcher").suffix(3000))
            await cluster.tearDown()
            throw error
        }
    }

    /// The list-builder is killed (SIGKILL) twice while PostgreSQL is inside the statement
    /// building a 300,000-entry list: no part of the list is ever visible, and the redelivered
    /// request builds it once, answered to the requester who kept waiting.
    @Test func aListBuilderKilledMidBuildLeavesNoPartialListAndBuildsItOnce() async throws {
        let cluster = try Cluster()
        try await cluster.prepare()
        do {
            try cluster.start("list-builder")
            let dir = cluster.logDirectory
            for (source, text, name) in [("org_units", Scenario.orgUnits, "org_units.csv"), ("call_centres", Scenario.callCentres, "centres.csv"),
                                         ("poll_calendar", Scenario.pollCalendar, "poll_calendar.csv")] {
                try cluster.start("ingest-worker")
                let load = try await cluster.cli(["load", source, try Scenario.write(text, named: name, in: dir)])
                await cluster.stop("ingest-worker")
                #expect(load.status == 0, "\(load.output)")
            }
            // Voters straight into the table: the ingest path is not what this test is about.
            let voters = 300_000
            #expect(try await cluster.query("""
                WITH stored AS (
                    INSERT INTO contacts (phone_hash, phone_sealed, phone_tail, name, booth_id, state_id)
                    SELECT \(TestPhones.columns("'+9198' || lpad(i::text, 8, '0')")), 'Voter ' || i, b.id, b.state_id
                    FROM generate_series(1, \(voters)) AS i
                    JOIN LATERAL (SELECT id, state_id FROM org_units WHERE code = 'B-' || (1 + i % 5)) b ON true
                    RETURNING 1)
                SELECT count(*) FROM stored
                """, as: Int.self) == voters)

            let request = cluster.cliInBackground(["list", "build", try Scenario.write(Scenario.pollingDayRequest, named: "gotv.json", in: dir),
                                                   "--wait", "--timeout", "600"], timeout: .seconds(600))
            for kill in 1...2 {
                // Inside the build: its statement is running in PostgreSQL.
                #expect(try await eventually(timeout: .seconds(120)) {
                    try await cluster.query("""
                        SELECT count(*) FROM pg_stat_activity
                        WHERE datname = current_database() AND state = 'active' AND query LIKE '/* sampark list build%'
                          AND pid <> pg_backend_pid()
                        """, as: Int.self) > 0
                }, "kill \(kill): the build started")
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...200)))
                await cluster.stop("list-builder", signal: SIGKILL)
                // Its transaction never commits: nothing of the list is visible, now or after
                // PostgreSQL notices the client is gone.
                for _ in 0..<3 {
                    #expect(try await cluster.query("SELECT count(*) FROM call_lists", as: Int.self) == 0)
                    #expect(try await cluster.query("SELECT count(*) FROM list_entries", as: Int.self) == 0)
                    #expect(try await cluster.query("SELECT count(*) FROM outbox WHERE type LIKE 'list.%'", as: Int.self) == 0)
                    try await Task.sleep(for: .milliseconds(300))
                }
                try cluster.start("list-builder")
            }

            let answer = try await request.value
            #expect(answer.status == 0, "\(answer.output)")
            #expect(answer.output.contains("\(voters) calls of \(voters) chosen"), "\(answer.output)")
            #expect(try await cluster.query("SELECT count(*) FROM call_lists", as: Int.self) == 1, "built once")
            #expect(try await cluster.query("SELECT count(*) FROM list_entries", as: Int.self) == voters)
            #expect(try await cluster.query("SELECT count(DISTINCT contact_id) FROM list_entries", as: Int.self) == voters)
            #expect(try await cluster.query("SELECT count(*) FROM outbox WHERE type = 'list.ready.v2' AND routing_key = 'list.ready'",
                                            as: Int.self) == 1, "announced once")
            let statuses = await cluster.tearDown()
            #expect(statuses["list-builder"] == 0, "\(statuses)")
        } catch {
            await cluster.tearDown()
            throw error
        }
    }

    @Test func aWorkerStoppedUnderLoadExitsCleanlyAndLosesNothing() async throws {
        let cluster = try Cluster()
        try await cluster.prepare()
        do {
            try cluster.startAll()
            let dir = cluster.logDirectory
            for (source, text, name) in [("org_units", Scenario.orgUnits, "org_units.csv")] {
                let load = try await cluster.cli(["load", source, try Scenario.write(text, named: name, in: dir)])
                #expect(load.status == 0, "\(load.output)")
            }
            // 3,000 contacts in 300 batches; the ingest-worker gets SIGTERM while it works.
            var lines = ["phone,name,booth_code"]
            for i in 0..<3000 { lines.append("9\(String(format: "%09d", 100_000_000 + i)),Person \(i),B-\(1 + i % 5)") }
            let file = try Scenario.write(lines.joined(separator: "\n") + "\n", named: "many.csv", in: dir)
            let load = cluster.cliInBackground(["load", "contacts", file, "--batch-size", "10", "--timeout", "120"])
            #expect(try await eventually(timeout: .seconds(60)) {
                try await cluster.query("SELECT count(*) FROM contacts", as: Int.self) > 300
            })
            let status = await cluster.stop("ingest-worker", signal: SIGTERM)
            #expect(status == 0, "SIGTERM under load: a clean exit\n\(cluster.log(of: "ingest-worker").suffix(1500))")
            #expect(try await cluster.query("SELECT count(*) FROM outbox WHERE published_at IS NULL", as: Int.self) == 0,
                    "before exiting, the relay published every answer its handlers had committed")
            let stored = try await cluster.query("SELECT count(*) FROM contacts", as: Int.self)
            #expect(stored < 3000, "stopped mid-load (stored \(stored))")
            try cluster.start("ingest-worker")
            let result = try await load.value
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("3000 rows read: 3000 inserted, 0 updated, 0 unchanged, 0 rejected"), "\(result.output)")
            #expect(try await cluster.query("SELECT count(*) FROM contacts", as: Int.self) == 3000)
            await cluster.tearDown()
        } catch {
            await cluster.tearDown()
            throw error
        }
    }
}
