import Foundation
import SamparkAMQP
import SamparkCore
import SamparkPostgres
import SamparkRuntime
import SamparkSchema

/// A beneficiary-feedback list of about a million entries from a 5,000,000-contact table,
/// built by the real list-builder (request over the broker, the build, the answer back),
/// beside the single INSERT ... SELECT a DBA would write for the same list: the same scheme,
/// one call per phone (the lowest contact id), opt-outs left out, each booth's entries to the
/// centre of its district. The list-builder does more in its one statement (every
/// suppression rule counted, language preference, balancing by seats, the hash, the report);
/// the bench checks both lists hold the same contacts. Rounds alternate which goes first;
/// before each side the entries are emptied and a CHECKPOINT taken.
struct ListBench {
    let options: BenchOptions
    let amqpURL: String
    let postgresURL: String

    private let database = "sampark_bench_lists"
    private let districts = 10, acsPerDistrict = 10, boothsPerAC = 50

    func run() async throws -> [BenchRow] {
        let contacts = options.listContacts
        let db = try await BenchDatabase.fresh(database, postgresURL: postgresURL)
        let pool = db.pool

        let start = ContinuousClock.now
        try await pool.withConnection { [districts, acsPerDistrict, boothsPerAC] conn in
            // One state > 10 districts > 10 ACs each > 50 booths each: 5,000 booths. A centre
            // per district (hi, 30 seats) and one for the state (en, 60 seats): every booth has
            // two centres, so assignment has a choice to make.
            let acs = districts * acsPerDistrict, booths = acs * boothsPerAC
            try conn.executeScript("""
                INSERT INTO org_units (id, level, code, name, parent_id, path, state_id) VALUES (1, 'state', 'CG', 'Chhattisgarh', NULL, '1', 1);
                INSERT INTO org_units (id, level, code, name, parent_id, path, state_id)
                    SELECT 10 + d, 'district', 'D-' || d, 'District ' || d, 1, text2ltree('1.' || (10 + d)), 1 FROM generate_series(0, \(districts - 1)) d;
                INSERT INTO org_units (id, level, code, name, parent_id, path, state_id)
                    SELECT 100 + a, 'ac', 'AC-' || a, 'AC ' || a, 10 + a / \(acsPerDistrict),
                           text2ltree('1.' || (10 + a / \(acsPerDistrict)) || '.' || (100 + a)), 1 FROM generate_series(0, \(acs - 1)) a;
                INSERT INTO org_units (id, level, code, name, parent_id, path, state_id)
                    SELECT 1000 + b, 'booth', 'B-' || b, 'Booth ' || b, 100 + b / \(boothsPerAC),
                           text2ltree('1.' || (10 + b / \(boothsPerAC * acsPerDistrict)) || '.' || (100 + b / \(boothsPerAC)) || '.' || (1000 + b)), 1
                    FROM generate_series(0, \(booths - 1)) b;
                SELECT setval(pg_get_serial_sequence('org_units', 'id'), 100000);
                INSERT INTO call_centres (code, name, seats, languages)
                    SELECT 'CC-D-' || d, 'District centre ' || d, 30, '{hi}' FROM generate_series(0, \(districts - 1)) d;
                INSERT INTO call_centre_regions (centre_id, unit_id) SELECT id, 10 + substr(code, 6)::int FROM call_centres;
                INSERT INTO call_centres (code, name, seats, languages) VALUES ('CC-STATE', 'State centre', 60, '{en}');
                INSERT INTO call_centre_regions (centre_id, unit_id) SELECT id, 1 FROM call_centres WHERE code = 'CC-STATE';
                """)
            // Contacts: every 5th and every 16th (from the first) benefit from ujjwala; every
            // 25th shares the phone of the one 5 before it (a household); the phones of every
            // 100th from the 10th opted out. Languages mostly hi, every 10th en. From 5,000,000
            // contacts: about 1,250,000 chosen, 1,000,000 entries.
            try conn.executeScript("""
                ALTER TABLE contacts SET (autovacuum_enabled = false);
                INSERT INTO contacts (phone_hash, phone_sealed, phone_tail, name, booth_id, state_id, language, schemes)
                    SELECT \(BenchPhones.columns("'+919' || lpad((CASE WHEN i % 25 = 0 THEN i - 5 ELSE i END)::text, 9, '0')")), 'Voter ' || i,
                           1000 + i % \(booths), 1, CASE WHEN i % 10 = 3 THEN 'en' ELSE 'hi' END,
                           CASE WHEN i % 5 = 0 OR i % 16 = 1 THEN '{ujjwala}'::text[] ELSE '{}' END
                    FROM generate_series(1, \(contacts)) AS i;
                INSERT INTO opt_outs (phone_hash, source)
                    SELECT hmac('+919' || lpad(i::text, 9, '0'), '\(BenchPhones.hashKey)', 'sha256'), 'bench' FROM generate_series(10, \(contacts), 100) AS i;
                ALTER TABLE contacts SET (autovacuum_enabled = true);
                """)
            // VACUUM runs outside a transaction block: one statement each.
            for table in ["contacts", "opt_outs", "org_units"] { try conn.execute("VACUUM ANALYZE \(table)") }
        }
        print("lists: \(contacts) contacts stored in \(String(format: "%.0f", seconds(since: start))) s")

        let environment = workerEnvironment(amqpURL: amqpURL, database: db)
        let amqp = try await AMQPConnection.connect(try AMQPConfiguration(url: amqpURL))
        try await purge(Topology.listRequests, on: amqp)
        let worker = try startBinary("list-builder", environment: environment)
        defer { stop(worker) }
        let replyQueue = "sampark.bench.lists.\(getpid())"
        try await amqp.declare(QueueDeclaration(name: replyQueue, durable: false, exclusive: true, autoDelete: true))
        let replies = try await amqp.consume(queue: replyQueue, prefetch: 10)
        var answers = replies.makeAsyncIterator()

        var round = 0
        /// Asks the list-builder for the list and waits for its answer; returns entries/s.
        func builtByWorker() async throws -> (rate: Double, ready: ListReady) {
            round += 1
            let request = ListBuildRequest(requestID: "bench-\(getpid())-\(round)", kind: .schemeFeedback,
                                           campaign: .init(code: "BENCH-\(getpid())-\(round)", name: "Bench"),
                                           audience: .init(scope: "CG", schemes: ["ujjwala"]))
            var properties = AMQPProperties(contentType: MessageCoding.contentType, replyTo: replyQueue, messageID: request.requestID)
            properties.type = ListBuildRequest.messageType
            let began = ContinuousClock.now
            try await amqp.publish(OutgoingMessage(exchange: Topology.listsExchange, routingKey: "list.build",
                                                   body: try MessageCoding.encode(request), properties: properties))
            guard let answer = try await answers.next() else { fail("the reply queue closed") }
            let elapsed = seconds(since: began)
            try answer.ack()
            guard answer.properties.type == ListReady.messageType else {
                fail("the list-builder refused the request: \(String(decoding: answer.body, as: UTF8.self))")
            }
            let ready = try MessageCoding.decode(ListReady.self, from: answer.body)
            return (Double(ready.entries) / elapsed, ready)
        }

        /// The hand-written statement, into a list of its own.
        func handWritten() async throws -> Double {
            try await pool.withConnection { conn in
                try conn.execute("INSERT INTO campaigns (code, kind, name) VALUES ('HAND', 'scheme_feedback', 'Hand') ON CONFLICT DO NOTHING")
                let listID = try conn.query("""
                    INSERT INTO call_lists (campaign_id) SELECT id FROM campaigns WHERE code = 'HAND' RETURNING id
                    """)[0].decode(Int64.self, at: 0)
                // The memory the list-builder gives its build (ListBuildHandler's work_mem): with
                // the session's default the statement's sort of 1.25 million rows spills to disk.
                try conn.execute("SET work_mem = '256MB'")
                let began = ContinuousClock.now
                let entries = try conn.execute("""
                    INSERT INTO list_entries (list_id, contact_id, phone_hash, phone_sealed, phone_tail, centre_id)
                    SELECT DISTINCT ON (c.phone_hash) $1::bigint, c.id, c.phone_hash, c.phone_sealed, c.phone_tail, r.centre_id
                    FROM contacts c
                    JOIN org_units b ON b.id = c.booth_id
                    JOIN call_centre_regions r ON r.unit_id = nullif(split_part(b.path::text, '.', 2), '')::bigint
                    WHERE b.path <@ '1' AND c.schemes && '{ujjwala}' AND c.phone_kind = 'mobile'
                      AND NOT EXISTS (SELECT 1 FROM opt_outs o WHERE o.phone_hash = c.phone_hash)
                    ORDER BY c.phone_hash, c.id
                    """, [listID])
                return Double(entries) / seconds(since: began)
            }
        }

        func reset() async throws {
            try await pool.execute("TRUNCATE list_entries, call_lists, campaigns, outbox, inbox CASCADE")
        }

        let (swiftRates, baselineRates) = try await alternatingRounds(
            options.listRounds, names: ("list-builder", "INSERT ... SELECT"), unit: "entries/s", pool: pool, reset: reset,
            swift: { try await builtByWorker().rate }, baseline: handWritten)

        // Both lists hold the same contacts.
        try await reset()
        let ready = try await builtByWorker().ready
        _ = try await handWritten()
        let differing = try await pool.query("""
            SELECT count(*) FROM (
                (SELECT contact_id FROM list_entries WHERE list_id = $1 EXCEPT SELECT contact_id FROM list_entries WHERE list_id <> $1)
                UNION ALL
                (SELECT contact_id FROM list_entries WHERE list_id <> $1 EXCEPT SELECT contact_id FROM list_entries WHERE list_id = $1)) d
            """, [ready.listID])[0].decode(Int.self, at: 0)
        print("lists: the list-builder's list has \(ready.entries) entries of \(ready.audience) chosen; left out: "
              + ready.suppressed.map { "\($0.name) \($0.count)" }.joined(separator: ", ")
              + "; by centre: " + ready.centres.prefix(3).map { "\($0.name) \($0.count)" }.joined(separator: ", ") + ", …")
        guard differing == 0 else { fail("the two lists differ in \(differing) contacts: the comparison would be unfair") }
        print("lists: both lists hold the same \(ready.entries) contacts")
        try? await replies.cancel()
        await amqp.close()
        try await db.close()

        return [BenchRow(measure: "call list from \(contacts) contacts (\(ready.entries) entries): list-builder request to answer vs the hand-written statement",
                         unit: "entries/s", swift: swiftRates, baseline: baselineRates,
                         baselineName: "one INSERT ... SELECT (same contacts)", target: 0.9)]
    }
}
