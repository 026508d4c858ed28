import Foundation
import Testing
import SamparkAMQP
import SamparkCore
import SamparkRuntime
import SamparkTestSupport

/// The feedback-aggregator killed (SIGKILL) twenty times while it records batches of
/// outcomes, some of them right after a commit and before its acks: the ledger holds exactly
/// the distinct attempts published, and every aggregate equals a recomputation from the ledger.
@Suite struct AggregatorFaultTests {
    static let offers = 1500

    @Test func anAggregatorKilledTwentyTimesMidBatchRecordsEachAttemptOnce() async throws {
        let cluster = try Cluster()
        try await cluster.prepare()
        do {
            let dir = cluster.logDirectory
            try cluster.start("ingest-worker")
            for (source, text, name) in [("org_units", Scenario.orgUnits, "org_units.csv"), ("call_centres", Scenario.callCentres, "centres.csv")] {
                let load = try await cluster.cli(["load", source, try Scenario.write(text, named: name, in: dir)])
                #expect(load.status == 0, "\(load.output)")
            }
            await cluster.stop("ingest-worker")
            // Voters, a list and its offers straight into the tables: the outcomes are what this
            // test is about.
            _ = try await cluster.query("""
                WITH voters AS (
                    INSERT INTO contacts (phone_hash, phone_sealed, phone_tail, name, booth_id, state_id)
                    SELECT \(TestPhones.columns("'+9197' || lpad(i::text, 8, '0')")), 'Voter ' || i, b.id, b.state_id
                    FROM generate_series(1, \(Self.offers)) AS i
                    JOIN LATERAL (SELECT id, state_id FROM org_units WHERE code = 'B-' || (1 + i % 5)) b ON true
                    RETURNING id, phone_hash, phone_sealed, phone_tail),
                campaign AS (INSERT INTO campaigns (code, kind, name) VALUES ('FEEDBACK', 'scheme_feedback', 'Feedback') RETURNING id),
                list AS (INSERT INTO call_lists (campaign_id, spec, ready) SELECT id, '{}', '{}' FROM campaign RETURNING id),
                entries AS (
                    INSERT INTO list_entries (list_id, contact_id, phone_hash, phone_sealed, phone_tail, centre_id, state)
                    SELECT list.id, v.id, v.phone_hash, v.phone_sealed, v.phone_tail, (SELECT id FROM call_centres WHERE code = 'DRG-01'), 'offered' FROM voters v, list
                    RETURNING id, centre_id),
                offers AS (
                    INSERT INTO offers (id, entry_id, centre_id, weight, offered_at, expires_at, reclaim_at)
                    SELECT e.id, e.id, e.centre_id, 1, now(), now() + interval '10 minutes', now() + interval '40 minutes' FROM entries e
                    RETURNING 1)
                SELECT count(*)::int FROM offers
                """, as: Int.self)

            // Every attempt's outcome, then 300 of them again under new message ids and 200
            // again under the same ones, in shuffled order.
            let amqp = try await AMQPConnection.connect(url: cluster.amqpURL)
            try await Topology.declare([Topology.callOutcomes], on: amqp)
            let entries = try await cluster.query("SELECT array_agg(id ORDER BY id) FROM list_entries", as: [Int64].self)
            let dispositions: [Disposition] = [.connected, .connected, .connected, .noAnswer, .busy, .switchedOff, .wrongNumber, .callBack, .refused, .optedOut]
            func outcome(_ entry: Int64) -> CallOutcome {
                let disposition = dispositions[Int(entry) % dispositions.count]
                let now = ISO8601DateFormatter().date(from: Scenario.pollingDayMorning)!
                return CallOutcome(attemptID: entry, entryID: entry, centre: "DRG-01", agent: "agent-\(entry % 7)", disposition: disposition,
                                   answers: disposition == .connected ? ["q1": entry % 2 == 0 ? "yes" : "no"] : nil,
                                   schemeFeedback: disposition == .connected ? (entry % 3 == 0 ? .notReceived : .received) : nil,
                                   turnout: disposition == .connected && entry % 4 == 0 ? .voted : nil,
                                   startedAt: now, endedAt: now.addingTimeInterval(60))
            }
            var messages: [(CallOutcome, String)] = entries.map { (outcome($0), "outcome-of-attempt-\($0)") }
            messages += entries.prefix(300).map { (outcome($0), "outcome-again-\($0)") }
            messages += entries.suffix(200).map { (outcome($0), "outcome-of-attempt-\($0)") }
            messages.shuffle()
            // Over some ten seconds, so that the kills land while outcomes keep coming.
            let publishing = Task {
                for chunk in stride(from: 0, to: messages.count, by: 25) {
                    try await amqp.publish(try messages[chunk..<min(chunk + 25, messages.count)].map { outcome, id in
                        var properties = AMQPProperties(contentType: MessageCoding.contentType, messageID: id)
                        properties.type = CallOutcome.messageType
                        return OutgoingMessage(exchange: Topology.callsExchange, routingKey: "call.outcome",
                                               body: try MessageCoding.encode(outcome), properties: properties)
                    })
                    try await Task.sleep(for: .milliseconds(120))
                }
            }

            var faultInjected = 0
            for kill in 1...20 {
                if kill % 2 == 1 {
                    // Right after its k-th commit, before the acks: the worst instant. (Once the
                    // queue has run dry it commits no more: it is then killed where it waits.)
                    try cluster.start("feedback-aggregator", extraEnvironment: ["SAMPARK_FAULT_KILL_AFTER_COMMIT": "\(Int.random(in: 1...4))"])
                    if await cluster.exitStatus(of: "feedback-aggregator", timeout: .seconds(20)) == 128 + SIGKILL {
                        faultInjected += 1
                    } else {
                        await cluster.stop("feedback-aggregator", signal: SIGKILL)
                    }
                } else {
                    // Anywhere: while it starts, reads, or is inside a batch's transaction.
                    try cluster.start("feedback-aggregator")
                    try await Task.sleep(for: .milliseconds(Int.random(in: 300...1500)))
                    await cluster.stop("feedback-aggregator", signal: SIGKILL)
                }
            }
            #expect(faultInjected >= 5, "killed between commit and ack \(faultInjected) times")
            try await publishing.value
            try cluster.start("feedback-aggregator")
            #expect(try await eventually(timeout: .seconds(120)) {
                let queued = try await amqp.inspectQueue(Topology.callOutcomes.name).messageCount
                let recorded = try await cluster.query("SELECT count(*)::int FROM attempts", as: Int.self)
                return queued == 0 && recorded == Self.offers
            }, "every attempt recorded")
            // The ledger is the aggregator's inbox (no inbox rows): that every message was taken
            // shows in the queue. Once the worker has stopped, whatever it had not acked would
            // be back in it, and nothing was dead-lettered.
            try await Task.sleep(for: .seconds(2))
            #expect(await cluster.stop("feedback-aggregator") == 0)
            #expect(try await amqp.inspectQueue(Topology.callOutcomes.name).messageCount == 0, "every message acked")
            #expect(try await amqp.inspectQueue(Topology.callOutcomes.deadQueue).messageCount == 0, "none dead-lettered")
            #expect(try await cluster.query("SELECT count(*)::int FROM inbox WHERE consumer = 'feedback-aggregator.outcomes'", as: Int.self) == 0)
            await amqp.close()

            #expect(try await cluster.query("SELECT count(*)::int FROM attempts", as: Int.self) == Self.offers, "one ledger row per attempt")
            #expect(try await cluster.query("SELECT count(DISTINCT offer_id)::int FROM attempts", as: Int.self) == Self.offers)
            // The aggregates are what the ledger says, recomputed here from scratch.
            #expect(try await cluster.query("""
                SELECT count(*)::int FROM (
                    SELECT day, centre_id, sum(attempts)::int, sum(connected)::int, sum(no_answer)::int, sum(busy)::int,
                            sum(wrong_number)::int, sum(opted_out)::int, sum(voted)::int, sum(switched_off)::int, sum(not_reachable)::int,
                            sum(call_back)::int, sum(refused)::int, sum(language_barrier)::int
                    FROM shift_aggregates GROUP BY 1, 2
                     EXCEPT
                     SELECT a.day, a.centre_id, count(*)::int, count(*) FILTER (WHERE result = 'connected')::int,
                            count(*) FILTER (WHERE result = 'no_answer')::int, count(*) FILTER (WHERE result = 'busy')::int,
                            count(*) FILTER (WHERE result = 'wrong_number')::int, count(*) FILTER (WHERE result = 'opted_out')::int,
                            count(*) FILTER (WHERE turnout = 'voted')::int, count(*) FILTER (WHERE result = 'switched_off')::int,
                            count(*) FILTER (WHERE result = 'not_reachable')::int, count(*) FILTER (WHERE result = 'call_back')::int,
                            count(*) FILTER (WHERE result = 'refused')::int, count(*) FILTER (WHERE result = 'language_barrier')::int
                     FROM attempts a GROUP BY a.day, a.centre_id
                ) differing
                """, as: Int.self) == 0, "the centres' aggregates equal a recomputation from the ledger")
            #expect(try await cluster.query("""
                SELECT count(*)::int FROM (
                    SELECT day, campaign_id, unit_id, sum(attempts)::int, sum(connected)::int, sum(voted)::int, sum(benefit_not_received)::int,
                           sum(opted_out)::int
                    FROM unit_aggregates GROUP BY 1, 2, 3
                     EXCEPT
                     SELECT a.day, a.campaign_id, a.unit_id, count(*)::int, count(*) FILTER (WHERE result = 'connected')::int,
                            count(*) FILTER (WHERE turnout = 'voted')::int, count(*) FILTER (WHERE scheme_feedback = 'not_received')::int,
                            count(*) FILTER (WHERE result = 'opted_out')::int
                     FROM attempts a GROUP BY 1, 2, 3
                ) differing
                """, as: Int.self) == 0, "every booth's aggregates equal a recomputation from the ledger")
            // Nothing missing the other way either: the totals match.
            #expect(try await cluster.query("SELECT coalesce(sum(attempts), 0)::int FROM shift_aggregates", as: Int.self) == Self.offers)
            #expect(try await cluster.query("""
                SELECT coalesce(sum(a.attempts), 0)::int FROM org_units s JOIN org_units u ON u.path <@ s.path
                JOIN unit_aggregates a ON a.unit_id = u.id WHERE s.code = 'MP'
                """, as: Int.self) == Self.offers, "the state's subtree sums to every attempt")
            #expect(try await cluster.query("SELECT coalesce(sum(answers), 0)::int FROM answer_tallies", as: Int.self)
                    == cluster.query("SELECT count(*)::int FROM attempts WHERE answers IS NOT NULL", as: Int.self))
            #expect(try await cluster.query("""
                SELECT count(*)::int FROM (
                    SELECT centre_id, sum(attempts)::int, sum(connected)::int FROM shift_aggregates GROUP BY 1
                    EXCEPT
                    SELECT centre_id, count(*)::int, count(*) FILTER (WHERE result = 'connected')::int FROM attempts GROUP BY 1
                ) differing
                """, as: Int.self) == 0, "each centre's shifts add up to its calls in the ledger")
            #expect(try await cluster.query("SELECT coalesce(sum(received + not_received + partly), 0)::int FROM scheme_tallies", as: Int.self)
                    == cluster.query("SELECT count(*)::int FROM attempts WHERE scheme IS NOT NULL", as: Int.self))
            // Each "benefit not received" escalated once, and published once.
            let notReceived = try await cluster.query("SELECT count(*)::int FROM attempts WHERE scheme_feedback = 'not_received'", as: Int.self)
            #expect(notReceived > 0)
            #expect(try await cluster.query("SELECT count(*)::int FROM escalations", as: Int.self) == notReceived)
            #expect(try await cluster.query("SELECT count(*)::int FROM outbox WHERE message_id LIKE 'escalation/%'", as: Int.self) == notReceived)
            #expect(try await cluster.query("SELECT count(*)::int FROM opt_outs", as: Int.self)
                    == cluster.query("SELECT count(*)::int FROM attempts WHERE result = 'opted_out'", as: Int.self))
            #expect(try await cluster.query("SELECT count(*)::int FROM turnout_marks", as: Int.self)
                    == cluster.query("SELECT count(*)::int FROM attempts WHERE turnout = 'voted'", as: Int.self))
            await cluster.tearDown()
        } catch {
            print(cluster.log(of: "feedback-aggregator").suffix(3000))
            await cluster.tearDown()
            throw error
        }
    }
}
