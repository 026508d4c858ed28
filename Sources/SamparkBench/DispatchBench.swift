import DialerDispatcher
import Foundation
import Logging
import SamparkAMQP
import SamparkCore
import SamparkPostgres
import SamparkRuntime
import SamparkSchema

/// The dispatcher's figures (docs/dispatch.md):
///
/// 1. **Throughput**: offers made by one dispatcher (every gate judged, the attempt recorded,
///    the offer built and published under confirms to its centre's queue) per second, beside
///    the raw `FOR UPDATE SKIP LOCKED` claim of the same entries of the same table in batches
///    of the same size, as many centres at once as the dispatcher fills (`fillsAtOnce`).
///    300 centres, 36 agents each, a gateway campaign paced at 20, so every centre can take
///    its entries in one fill.
/// 2. **Latency**: an outcome published → the next offer delivered to that centre's queue, for
///    one agent at a desk, through the real dialer-dispatcher process: p50, p99, max.
/// 3. **A polling-day hour**: the real dialer-dispatcher and feedback-aggregator, and
///    `sampark desk-sim` playing 300 centres × 36 agents on a clock running `--hour-speed`
///    times faster; queue depths and memory sampled throughout.
struct DispatchBench {
    let options: BenchOptions
    let amqpURL: String
    let postgresURL: String
    /// The rabbitmq-c program: the broker's own ceiling for publishing under confirms.
    let baselineBinary: String

    private let database = "sampark_bench_dispatch"
    private let centres = 300, agentsPerCentre = 36

    func run() async throws -> [BenchRow] {
        let db = try await BenchDatabase.fresh(database, postgresURL: postgresURL)
        let pool = db.pool
        let perCentre = options.dispatchEntriesPerCentre
        let entries = centres * perCentre
        let start = ContinuousClock.now
        try await pool.withConnection { [centres, agentsPerCentre] conn in
            // A state of 300 districts with 10 booths each; a centre per district, 36 seats.
            try conn.executeScript("""
                INSERT INTO org_units (id, level, code, name, parent_id, path, state_id) VALUES (1, 'state', 'MP', 'Madhya Pradesh', NULL, '1', 1);
                INSERT INTO org_units (id, level, code, name, parent_id, path, state_id)
                    SELECT 1000 + d, 'district', 'D-' || d, 'District ' || d, 1, text2ltree('1.' || (1000 + d)), 1 FROM generate_series(0, \(centres - 1)) d;
                INSERT INTO org_units (id, level, code, name, parent_id, path, state_id)
                    SELECT 100000 + b, 'booth', 'B-' || b, 'Booth ' || b, 1000 + b / 10, text2ltree('1.' || (1000 + b / 10) || '.' || (100000 + b)), 1
                    FROM generate_series(0, \(centres * 10 - 1)) b;
                INSERT INTO call_centres (id, code, name, seats, languages) SELECT d, 'CC-' || d, 'Centre ' || d, \(agentsPerCentre), '{hi}'
                    FROM generate_series(1, \(centres)) d;
                INSERT INTO call_centre_regions (centre_id, unit_id) SELECT d, 999 + d FROM generate_series(1, \(centres)) d;
                INSERT INTO agents (centre_id, agent, state, changed_at)
                    SELECT d, 'agent-' || a, 'available', now() FROM generate_series(1, \(centres)) d, generate_series(1, \(agentsPerCentre)) a;
                INSERT INTO contacts (id, phone_hash, phone_sealed, phone_tail, name, booth_id, state_id, language)
                    SELECT i, \(BenchPhones.columns("'+9197' || lpad(i::text, 8, '0')")), 'Voter ' || i,
                           100000 + (i % \(centres)) * 10 + i / \(centres) % 10, 1, 'hi'
                    FROM generate_series(1, \(entries)) i;
                INSERT INTO campaigns (id, code, kind, name, pacing_ratio, dialing) VALUES (1, 'BENCH', 'scheme_feedback', 'Bench', 20, 'gateway');
                INSERT INTO call_lists (id, campaign_id, spec, ready) VALUES (1, 1, '{}', '{}');
                """)
            // The gateways' offers open the numbers: sealed for real, as the ingest-worker does.
            try BenchPhones.seal(table: "contacts", ids: 1...entries, number: { "+9197" + String(format: "%08d", $0) }, on: conn)
            try conn.execute("""
                INSERT INTO list_entries (list_id, contact_id, phone_hash, phone_sealed, phone_tail, centre_id)
                    SELECT 1, c.id, c.phone_hash, c.phone_sealed, c.phone_tail, 1 + c.id % \(centres) FROM contacts c ORDER BY c.id
                """)
            for table in ["contacts", "list_entries", "agents", "org_units"] { try conn.execute("VACUUM ANALYZE \(table)") }
        }
        print("dispatch: \(entries) entries for \(centres) centres stored in \(String(format: "%.0f", seconds(since: start))) s")

        let amqp = try await AMQPConnection.connect(try AMQPConfiguration(url: amqpURL))
        try await Topology.declareExchanges(on: amqp)
        // The campaign dials through gateways: their queues.
        let queues = (1...centres).map { Topology.offerQueue(centre: "CC-\($0)", dialing: "gateway") }
        for centre in 1...centres { try await Topology.apply(Topology.offerQueueSteps(centre: "CC-\(centre)"), on: amqp) }
        for queue in queues { try await amqp.purgeQueue(queue) }
        // A clock standing still at 11:00 IST on an ordinary day: every gate judged, none closed.
        let moment = ISO8601DateFormatter().date(from: "2028-10-02T11:00:00+05:30")!
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let relayPool = PostgresPool(configuration: try PostgresConfiguration(url: db.url), size: 2)
        let relay = OutboxRelay(settings: .init(batchSize: 500, phoneVault: BenchPhones.vault), amqp: amqp, pool: relayPool, logger: logger)
        // As the worker runs it: centres filled `fillsAtOnce` at a time, a connection each.
        let settings = DispatchSettings(clock: .fixed(at: moment))
        let dispatchPool = PostgresPool(configuration: try PostgresConfiguration(url: db.url), size: settings.fillsAtOnce)
        let dispatcher = Dispatcher(settings: settings, pool: dispatchPool, relay: relay,
                                    offerQueues: nil, logger: logger)
        let claimPool = PostgresPool(configuration: try PostgresConfiguration(url: db.url), size: settings.fillsAtOnce)

        /// The offers' mean size as published (for the broker's ceiling, below).
        var offerBytes = 0
        /// Every entry offered and every offer published: offers per second.
        func dispatched() async throws -> Double {
            let began = ContinuousClock.now
            let round = try await dispatcher.round()
            guard round.offered == entries else { fail("the dispatcher offered \(round.offered) of \(entries) (refused: \(round.refused))") }
            // The relay publishes under confirms as the round commits centre by centre; this
            // waits for what is left.
            while true {
                _ = try await relay.relayWaiting()
                let unpublished = try await pool.query("SELECT count(*)::int FROM outbox WHERE published_at IS NULL")[0].decode(Int.self, at: 0)
                if unpublished == 0 { break }
                try await Task.sleep(for: .milliseconds(2))
            }
            let rate = Double(entries) / seconds(since: began)
            // A gateway's number (+91 and ten digits) goes in as the relay publishes it.
            offerBytes = try await pool.query("""
                SELECT avg(length(body) + CASE WHEN phone_sealed IS NULL THEN 0 ELSE 13 END)::int FROM outbox
                """)[0].decode(Int.self, at: 0)
            return rate
        }

        /// The same entries claimed raw: per centre, batches of the same size, each its own
        /// transaction, as many centres at once as the dispatcher fills.
        func rawClaims() async throws -> Double {
            let began = ContinuousClock.now
            var claimed = 0
            await forEachConcurrently(Array(1...centres), atMost: settings.fillsAtOnce, { centre in
                var taken = 0
                while true {
                    let n: Int
                    do {
                        n = try await claimPool.transaction { conn in
                            try conn.execute("""
                                UPDATE list_entries SET state = 'offered', offered_at = now()
                                WHERE id IN (SELECT id FROM list_entries WHERE centre_id = $1 AND list_id = 1 AND state = 'pending'
                                             ORDER BY priority, id LIMIT 500 FOR UPDATE SKIP LOCKED)
                                """, [centre], prepared: true)
                        }
                    } catch {
                        fail("a raw claim failed: \(error)")
                    }
                    taken += n
                    if n < 500 { return taken }
                }
            }, collect: { claimed += $0 })
            guard claimed == entries else { fail("the raw claims took \(claimed) of \(entries)") }
            return Double(entries) / seconds(since: began)
        }

        func reset() async throws {
            try await pool.execute("TRUNCATE offers, attempts, outbox, dispatch_refusals CASCADE")
            try await pool.execute("UPDATE list_entries SET state = 'pending', offered_at = NULL WHERE state <> 'pending'")
            // With statistics too: those autovacuum took mid-round (most entries offered) would
            // give the next round's claims another plan than the first round's.
            try await pool.execute("VACUUM ANALYZE list_entries")
            for queue in queues { try await amqp.purgeQueue(queue) }
        }

        let relaying = Task { try? await relay.run() }
        let (swiftRates, rawRates) = try await alternatingRounds(
            options.dispatchRounds, names: ("dispatcher", "raw SKIP LOCKED claims"), unit: "offers/s", pool: pool, reset: reset,
            swift: dispatched, baseline: rawClaims)
        relaying.cancel()
        // The broker's own ceiling: every offer is a message published under confirms to a
        // quorum queue, so no dispatcher can offer faster than the broker takes such messages
        // from plain rabbitmq-c calls doing nothing else (the same count, the offers' size).
        var ceilings: [Double] = []
        let ceilingQueue = "bench.dispatch.ceiling"
        for _ in 1...options.dispatchRounds {
            try? await amqp.deleteQueue(ceilingQueue)
            try await amqp.declare(QueueDeclaration.quorum(ceilingQueue))
            ceilings.append(try rabbitmqC(baselineBinary, "publish", url: amqpURL, queue: ceilingQueue, count: entries, [offerBytes, 2000]))
        }
        try await amqp.deleteQueue(ceilingQueue)
        print(String(format: "dispatch: the broker's own ceiling, rabbitmq-c publishing %d messages of %d B under confirms to a quorum queue: %.0f msg/s (rounds %@), %.2fx the raw claims; the dispatcher reaches %.2fx of it",
                     entries, offerBytes, median(ceilings), ceilings.map { String(Int($0)) }.joined(separator: ", "),
                     median(ceilings) / median(rawRates), median(swiftRates) / median(ceilings)))
        // Where the time goes: the fills alone (claim, judge, record, queue the messages), then
        // the relay alone (claim the outbox rows, publish under confirms, mark them).
        try await reset()
        let quiet = Dispatcher(settings: settings, pool: dispatchPool, relay: nil,
                               offerQueues: nil, logger: logger)
        var began = ContinuousClock.now
        _ = try await quiet.round()
        let fills = seconds(since: began)
        began = ContinuousClock.now
        while try await relay.relayWaiting() > 0 {}
        let publishing = seconds(since: began)
        print(String(format: "dispatch: of which, one after the other: the fills %.1f s (%.0f offers/s), the relay %.1f s (%.0f offers/s)",
                     fills, Double(entries) / fills, publishing, Double(entries) / publishing))
        try await reset()
        await relayPool.shutdown()
        await dispatchPool.shutdown()
        await claimPool.shutdown()

        let latency = try await outcomeToNextOffer(db: db, amqp: amqp)
        print(String(format: "dispatch: outcome → next offer at that desk, %d calls: p50 %.1f ms, p99 %.1f ms, max %.1f ms (target p99 <= 20 ms: %@)",
                     latency.count, latency.p50, latency.p99, latency.max, latency.p99 <= 20 ? "met" : "NOT met"))
        try await pollingDayHour(db: db, amqp: amqp)

        for queue in queues + (1...centres).map({ Topology.offerQueue(centre: "CC-\($0)") }) { try? await amqp.deleteQueue(queue) }
        await amqp.close()
        try await db.close()
        return [BenchRow(measure: "offers from one dispatcher, \(entries) entries at \(centres) centres (gates judged, attempt recorded, offer built and published under confirms) vs raw claims of the same entries, 500 a transaction",
                         unit: "offers/s", swift: swiftRates, baseline: rawRates,
                         baselineName: "UPDATE ... FOR UPDATE SKIP LOCKED", target: 0.8),
                BenchRow(measure: "the broker's own ceiling (not Sampark: rabbitmq-c publishing \(entries) messages of \(offerBytes) B under confirms to a quorum queue, nothing else) vs the same raw claims: what any dispatcher that publishes each offer could reach",
                         unit: "msg/s", swift: ceilings, baseline: rawRates,
                         baselineName: "UPDATE ... FOR UPDATE SKIP LOCKED", target: 0.8)]
    }

    // MARK: Latency

    struct Latency {
        let count: Int
        let p50: Double
        let p99: Double
        let max: Double
    }

    /// One agent at centre CC-1 and the real dialer-dispatcher: take the offer, publish its
    /// outcome, time until the next offer arrives; repeated.
    private func outcomeToNextOffer(db: BenchDatabase, amqp: AMQPConnection) async throws -> Latency {
        let calls = options.latencyCalls
        try await db.pool.execute("UPDATE agents SET state = 'logged_out'")
        try await db.pool.execute("UPDATE campaigns SET pacing_ratio = 1, dialing = 'preview'")
        try await db.pool.execute("UPDATE list_entries SET state = 'completed' WHERE centre_id <> 1")
        var environment = workerEnvironment(amqpURL: amqpURL, database: db)
        environment["SAMPARK_CLOCK_START"] = "2028-10-02T11:00:00+05:30"
        environment["SAMPARK_OFFER_QUEUE_REFRESH"] = "1"
        try await purge(Topology.dispatcherEvents, on: amqp)
        let worker = try startBinary("dialer-dispatcher", environment: environment)
        defer { stop(worker) }
        try await Task.sleep(for: .seconds(3))   // started, and CC-1's queue known to it
        let offers = try await amqp.consume(queue: Topology.offerQueue(centre: "CC-1"), prefetch: 1)
        var next = offers.makeAsyncIterator()
        try await amqp.publish(try message(AgentPresence(centre: "CC-1", agent: "agent-1", state: .available, at: Date()), "agent.presence"))
        var samples: [Double] = []
        guard var delivery = try await next.next() else { fail("no first offer") }
        for call in 0...calls {
            let offer = try MessageCoding.decode(CallOffer.self, from: delivery.body)
            let outcome = CallOutcome(attemptID: offer.attemptID, entryID: offer.entryID, centre: "CC-1", agent: "agent-1",
                                      disposition: .connected, startedAt: Date(), endedAt: Date())
            let sent = ContinuousClock.now
            try await amqp.publish(try message(outcome, "call.outcome", id: "bench-outcome-\(offer.attemptID)"))
            try delivery.ack()
            guard let following = try await next.next() else { fail("no offer after call \(call)") }
            // The first few warm the dispatcher's connections and statements.
            if call >= 20 { samples.append(seconds(since: sent) * 1000) }
            delivery = following
        }
        try delivery.ack()
        try? await offers.cancel()
        stop(worker)
        let sorted = samples.sorted()
        func at(_ q: Double) -> Double { sorted[min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.up)) - 1)] }
        return Latency(count: sorted.count, p50: at(0.5), p99: at(0.99), max: sorted.last ?? 0)
    }

    private func message<M: SamparkMessage>(_ body: M, _ routingKey: String, id: String = UUID().uuidString) throws -> OutgoingMessage {
        var properties = AMQPProperties(contentType: MessageCoding.contentType, messageID: id)
        properties.type = M.messageType
        return OutgoingMessage(exchange: Topology.callsExchange, routingKey: routingKey, body: try MessageCoding.encode(body), properties: properties)
    }

    // MARK: A polling-day hour

    /// 300 centres × 36 agents, desk-sim on a fast clock, the real dispatcher and aggregator:
    /// prints offers and outcomes per simulated hour, the deepest offer queue, the outcome
    /// queue's backlog, and the processes' peak memory.
    private func pollingDayHour(db: BenchDatabase, amqp: AMQPConnection) async throws {
        let speed = options.hourSpeed
        try await db.pool.execute("TRUNCATE offers, outbox, dispatch_refusals, attempts, shift_aggregates, inbox CASCADE")
        try await db.pool.execute("DELETE FROM agents")
        try await db.pool.execute("""
            UPDATE campaigns SET kind = 'gotv', pacing_ratio = 1.5, dialing = 'gateway', max_attempts = 3;
            """)
        try await db.pool.execute("""
            INSERT INTO poll_calendar (constituency_id, election, phase, poll_date, poll_closes_at)
            SELECT id, 'GE2029', 1, '2028-10-02', '2028-10-02 18:00+05:30' FROM org_units WHERE level = 'district'
            """)
        try await db.pool.execute("UPDATE call_lists SET spec = '{\"audience\": {\"poll_date\": \"2028-10-02\"}}'")
        // Enough calls for the hour: three times as many voters again.
        let first = centres * options.dispatchEntriesPerCentre + 1, last = centres * options.dispatchEntriesPerCentre * 4
        try await db.pool.execute("""
            INSERT INTO contacts (id, phone_hash, phone_sealed, phone_tail, name, booth_id, state_id, language)
                SELECT i, \(BenchPhones.columns("'+9196' || lpad(i::text, 8, '0')")), 'Voter ' || i,
                       100000 + (i % \(centres)) * 10 + i / \(centres) % 10, 1, 'hi'
                FROM generate_series(\(first), \(last)) i
            """)
        try await db.pool.withConnection { conn in
            try BenchPhones.seal(table: "contacts", ids: first...last, number: { "+9196" + String(format: "%08d", $0) }, on: conn)
        }
        try await db.pool.execute("""
            INSERT INTO list_entries (list_id, contact_id, phone_hash, phone_sealed, phone_tail, centre_id)
            SELECT 1, c.id, c.phone_hash, c.phone_sealed, c.phone_tail, 1 + c.id % \(centres) FROM contacts c
            WHERE c.id > \(centres * options.dispatchEntriesPerCentre) ORDER BY c.id
            """)
        try await db.pool.execute("UPDATE list_entries SET state = 'pending', attempts = 0, last_result = NULL, next_attempt_at = NULL, offered_at = NULL")
        try await db.pool.execute("VACUUM ANALYZE list_entries")
        var environment = workerEnvironment(amqpURL: amqpURL, database: db)
        environment["SAMPARK_CLOCK_START"] = "2028-10-02T11:00:00+05:30"
        environment["SAMPARK_CLOCK_SPEED"] = "\(speed)"
        environment["SAMPARK_OFFER_QUEUE_REFRESH"] = "2"
        for queue in [Topology.dispatcherEvents, Topology.callOutcomes] { try await purge(queue, on: amqp) }
        func start(_ name: String, _ arguments: [String] = []) throws -> Process {
            try startBinary(name, arguments, environment: environment, quiet: true)
        }
        let dispatcher = try start("dialer-dispatcher")
        let aggregator = try start("feedback-aggregator")
        try await Task.sleep(for: .seconds(3))
        let hour = 3600.0 / speed
        let desks = try start("sampark", ["desk-sim", "--centre", (1...centres).map { "CC-\($0)" }.joined(separator: ","),
                                          "--agents", "\(agentsPerCentre)", "--gateway", "--duration", "3600", "--idle", "0", "--quiet",
                                          "--talk", "120", "--ring", "25", "--wrap-up", "15"])
        var deepestOffers = 0, deepestOutcomes = 0, peak: [String: Int] = [:]
        let began = ContinuousClock.now
        while desks.isRunning && seconds(since: began) < hour * 2 + 60 {
            try await Task.sleep(for: .seconds(2))
            for queue in [1, 150, 300].map({ Topology.offerQueue(centre: "CC-\($0)", dialing: "gateway") }) {
                deepestOffers = max(deepestOffers, Int(try await amqp.inspectQueue(queue).messageCount))
            }
            deepestOutcomes = max(deepestOutcomes, Int(try await amqp.inspectQueue(Topology.callOutcomes.name).messageCount))
            for (name, process) in [("dialer-dispatcher", dispatcher), ("feedback-aggregator", aggregator), ("desk-sim", desks)] {
                peak[name] = max(peak[name] ?? 0, residentKB(process.processIdentifier))
            }
        }
        let elapsed = seconds(since: began)
        desks.waitUntilExit()
        // Let the aggregator finish the backlog, then stop both.
        _ = try? await eventuallyTrue(seconds: 120) {
            try await amqp.inspectQueue(Topology.callOutcomes.name).messageCount == 0
        }
        for process in [dispatcher, aggregator] { stop(process) }
        let row = try await db.pool.query("""
            SELECT (SELECT count(*) FROM offers)::int, (SELECT count(*) FROM attempts)::int,
                   (SELECT count(*) FROM attempts WHERE has_voted)::int, (SELECT count(*) FROM list_entries WHERE state = 'pending')::int
            """)[0]
        let offers = try row.decode(Int.self, at: 0), outcomes = try row.decode(Int.self, at: 1)
        print(String(format: "dispatch: a polling-day hour, %d centres × %d agents, clock ×%.0f (%.0f s real): %d offers, %d outcomes recorded (%d voted), %d entries still due; per real second %.0f outcomes",
                     centres, agentsPerCentre, speed, elapsed, offers, outcomes, try row.decode(Int.self, at: 2), try row.decode(Int.self, at: 3),
                     Double(outcomes) / elapsed))
        print("dispatch: deepest offer queue sampled \(deepestOffers) (bound: 36 agents × pacing 1.5 = 54), deepest outcome backlog \(deepestOutcomes); peak memory "
              + peak.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value / 1024) MB" }.joined(separator: ", "))
    }

    private func residentKB(_ pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }

    private func eventuallyTrue(seconds limit: Double, _ condition: () async throws -> Bool) async throws -> Bool {
        let began = ContinuousClock.now
        while seconds(since: began) < limit {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(500))
        }
        return false
    }
}
