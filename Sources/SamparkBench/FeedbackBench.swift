import Foundation
import SamparkAMQP
import SamparkCore
import SamparkPostgres
import SamparkRuntime

/// The feedback-aggregator's rate: the real worker (batches of up to 500 outcomes per
/// transaction: ledger, aggregates rolled up the tree, tallies, opt-outs, turnout marks) takes
/// a queue of outcomes, beside an ack-only consumer (the rabbitmq-c baseline program, one ack
/// per message) draining the same number of the same messages from the same queue.
struct FeedbackBench {
    let options: BenchOptions
    let amqpURL: String
    let postgresURL: String
    let baselineBinary: String

    private let database = "sampark_bench_feedback"

    func run() async throws -> [BenchRow] {
        let n = options.feedbackOutcomes
        let db = try await BenchDatabase.fresh(database, postgresURL: postgresURL)
        try await db.pool.withConnection { conn in
            // A state of 10 districts, 10 ACs each, 50 booths each; a centre per district.
            try conn.executeScript("""
                INSERT INTO org_units (id, level, code, name, parent_id, path, state_id) VALUES (1, 'state', 'MP', 'Madhya Pradesh', NULL, '1', 1);
                INSERT INTO org_units (id, level, code, name, parent_id, path, state_id)
                    SELECT 10 + d, 'district', 'D-' || d, 'District ' || d, 1, text2ltree('1.' || (10 + d)), 1 FROM generate_series(0, 9) d;
                INSERT INTO org_units (id, level, code, name, parent_id, path, state_id)
                    SELECT 100 + a, 'ac', 'AC-' || a, 'AC ' || a, 10 + a / 10, text2ltree('1.' || (10 + a / 10) || '.' || (100 + a)), 1
                    FROM generate_series(0, 99) a;
                INSERT INTO org_units (id, level, code, name, parent_id, path, state_id)
                    SELECT 1000 + b, 'booth', 'B-' || b, 'Booth ' || b, 100 + b / 50,
                           text2ltree('1.' || (10 + b / 500) || '.' || (100 + b / 50) || '.' || (1000 + b)), 1
                    FROM generate_series(0, 4999) b;
                INSERT INTO call_centres (id, code, name, seats) SELECT d + 1, 'CC-' || d, 'Centre ' || d, 36 FROM generate_series(0, 9) d;
                INSERT INTO contacts (id, phone_hash, phone_sealed, phone_tail, name, booth_id, state_id)
                    SELECT i, \(BenchPhones.columns("'+9197' || lpad(i::text, 8, '0')")), 'Voter ' || i, 1000 + i % 5000, 1
                    FROM generate_series(1, \(n)) i;
                INSERT INTO campaigns (id, code, kind, name) VALUES (1, 'FEEDBACK', 'scheme_feedback', 'Feedback');
                INSERT INTO call_lists (id, campaign_id, spec, ready) VALUES (1, 1, '{}', '{}');
                INSERT INTO list_entries (id, list_id, contact_id, phone_hash, phone_sealed, phone_tail, centre_id, state)
                    SELECT c.id, 1, c.id, c.phone_hash, c.phone_sealed, c.phone_tail, 1 + (c.booth_id - 1000) / 500, 'offered' FROM contacts c;
                INSERT INTO offers (id, entry_id, centre_id, weight, offered_at, expires_at, reclaim_at)
                    SELECT id, id, centre_id, 1, now(), now(), now() FROM list_entries;
                """)
            for table in ["contacts", "list_entries", "offers", "org_units"] { try conn.execute("VACUUM ANALYZE \(table)") }
        }
        let amqp = try await AMQPConnection.connect(try AMQPConfiguration(url: amqpURL))
        let environment = workerEnvironment(amqpURL: amqpURL, database: db)
        let postmaster = try await postmasterPID(db.pool)
        let queue = Topology.callOutcomes.name
        try await purge(Topology.callOutcomes, on: amqp)

        let dispositions: [Disposition] = [.connected, .connected, .connected, .connected, .noAnswer, .noAnswer, .busy, .switchedOff,
                                           .callBack, .wrongNumber, .refused, .optedOut]
        let moment = Date()
        var round = 0
        /// The outcomes of every attempt, published straight to the aggregator's queue.
        func fill() async throws {
            round += 1
            let bodies = try (1...n).map { i -> OutgoingMessage in
                let disposition = dispositions[i % dispositions.count]
                let outcome = CallOutcome(attemptID: Int64(i), entryID: Int64(i), centre: "CC-0", agent: "agent-\(i % 36)",
                                          disposition: disposition, talkSeconds: 90,
                                          answers: disposition == .connected ? ["q1": i % 3 == 0 ? "no" : "yes", "q2": "\(i % 5)"] : nil,
                                          notes: disposition == .connected ? "spoke to them" : nil,
                                          schemeFeedback: disposition == .connected ? (i % 7 == 0 ? .notReceived : .received) : nil,
                                          startedAt: moment, endedAt: moment.addingTimeInterval(90))
                var properties = AMQPProperties(contentType: MessageCoding.contentType, messageID: "bench-\(round)-\(i)")
                properties.type = CallOutcome.messageType
                return OutgoingMessage(exchange: "", routingKey: queue, body: try MessageCoding.encode(outcome), properties: properties)
            }
            for chunk in stride(from: 0, to: n, by: 2000) { try await amqp.publish(Array(bodies[chunk..<min(chunk + 2000, n)])) }
        }

        /// How many ids the ledger's sequence has handed out so far.
        func ledgerIDsIssued() async throws -> Int {
            try await db.pool.query("SELECT (CASE WHEN is_called THEN last_value ELSE 0 END)::int FROM attempts_id_seq")[0].decode(Int.self, at: 0)
        }

        func aggregated() async throws -> Double {
            try await fill()
            try await db.pool.execute("CHECKPOINT")
            let issuedBefore = try await ledgerIDsIssued()
            let workerCPU = endedChildrenCPUSeconds(), databaseCPU = postmaster.flatMap { endedChildrenCPUSeconds(ofProcess: $0) }
            let worker = try startBinary("feedback-aggregator", environment: environment)
            // The clock starts once the worker's consumer is on the queue, as the baseline's
            // starts once its connection is open: starting a process and connecting are not
            // the rate being measured.
            while try await amqp.inspectQueue(queue).consumerCount == 0 { try await Task.sleep(for: .milliseconds(2)) }
            let began = ContinuousClock.now
            // Watched through the ledger's id sequence, which costs nothing to read; a
            // `count(*)` every few milliseconds would scan a growing table on one of the
            // machine's two cores while the worker runs. Ids are taken before the commit (and
            // a conflict can take one too), so the count itself confirms the end.
            while try await ledgerIDsIssued() - issuedBefore < n { try await Task.sleep(for: .milliseconds(5)) }
            while try await db.pool.query("SELECT count(*)::int FROM attempts")[0].decode(Int.self, at: 0) < n {
                try await Task.sleep(for: .milliseconds(5))
            }
            let rate = Double(n) / seconds(since: began)
            stop(worker)
            // Less noisy than the rate on a shared machine: the CPU each side spent per outcome.
            let workerMicros = (endedChildrenCPUSeconds() - workerCPU) / Double(n) * 1e6
            try await Task.sleep(for: .milliseconds(500))   // its sessions' backends end and are reaped
            if let before = databaseCPU, let postmaster, let after = endedChildrenCPUSeconds(ofProcess: postmaster) {
                print(String(format: "feedback: CPU per outcome: feedback-aggregator %.0f µs, its PostgreSQL sessions %.0f µs",
                             workerMicros, (after - before) / Double(n) * 1e6))
            }
            // What migration 0013's free space is for: updates that stay on their page and
            // write no index entry. (The worker's sessions have ended: their counts are in.)
            let updates = try await db.pool.query("""
                SELECT n_tup_upd::int, n_tup_hot_upd::int FROM pg_stat_user_tables WHERE relname = 'unit_aggregates'
                """)[0]
            print("feedback: unit_aggregates updates so far: \(try updates.decode(Int.self, at: 0)), of them heap-only \(try updates.decode(Int.self, at: 1))")
            let total = try await db.pool.query("SELECT coalesce(sum(attempts), 0)::int FROM unit_aggregates")[0].decode(Int.self, at: 0)
            guard total == n else { fail("the booths' aggregates count \(total) of \(n)") }
            try await db.pool.execute("TRUNCATE attempts, unit_aggregates, answer_tallies, shift_aggregates, inbox, opt_outs, turnout_marks")
            return rate
        }

        func ackOnly() async throws -> Double {
            try await fill()
            return try rabbitmqC(baselineBinary, "consume", url: amqpURL, queue: queue, count: n, [400])
        }

        var swiftRates: [Double] = [], baselineRates: [Double] = []
        for r in 1...options.feedbackRounds {
            let baseline = try await ackOnly(), swift = try await aggregated()
            swiftRates.append(swift)
            baselineRates.append(baseline)
            print("round \(r): feedback-aggregator \(Int(swift)) outcomes/s, ack-only consumer \(Int(baseline)) messages/s")
        }
        await amqp.close()
        try await db.close()
        return [BenchRow(measure: "outcomes recorded by one feedback-aggregator (\(n) outcomes, batches of up to 500: ledger, aggregates per unit and centre, tallies) vs an ack-only consumer of the same queue",
                         unit: "outcomes/s", swift: swiftRates, baseline: baselineRates,
                         baselineName: "rabbitmq-c, one ack per message", target: 0.4)]
    }
}
