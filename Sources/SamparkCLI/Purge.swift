import ArgumentParser
import Foundation
import SamparkPostgres

/// `sampark purge --notes-days N`: retention. Calls that ended more than N days ago lose their
/// personal parts (the agent's notes, the survey answers as given, a worker's corrections);
/// dispositions, turnout and scheme answers stay, and every aggregate keeps its counts. The
/// processing log loses rows older than `--log-days` (never under 366: a year at least).
/// Works in batches of the ledger's id order, each its own short transaction, so it runs
/// beside the fleet; prints progress. Run it daily (cron, a Kubernetes CronJob).
struct Purge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Purge call notes and answers older than a number of days, and processing-log rows past their year.")

    @Option(help: "Calls older than this many days lose notes, answers and corrections.")
    var notesDays: Int = 90

    @Option(help: "Processing-log rows older than this many days are deleted (at least 366).")
    var logDays: Int = 400

    @Option(help: "Attempts per transaction.")
    var batch: Int = 10_000

    @OptionGroup var database: DatabaseOptions

    func validate() throws {
        guard notesDays >= 1 else { throw ValidationError("--notes-days must be at least 1") }
        guard logDays >= 366 else { throw ValidationError("--log-days must be at least 366: the processing log is kept a year") }
        guard (100...1_000_000).contains(batch) else { throw ValidationError("--batch must be between 100 and 1000000") }
    }

    func run() async throws {
        try await database.withPool(applicationName: "sampark purge") { pool in try await purge(pool) }
    }

    func purge(_ pool: PostgresPool) async throws {
        let notesDays = notesDays, batch = batch
        var last: Int64 = 0, purged = 0, scanned = 0
        while true {
            let after = last
            let step: (last: Int64?, scanned: Int, purged: Int) = try await pool.transaction { connection in
                let row = try connection.query("""
                    WITH slice AS (
                        SELECT id FROM attempts WHERE id > $1 ORDER BY id LIMIT $2
                    ), cleared AS (
                        UPDATE attempts a SET feedback = NULL, answers = NULL, verification = NULL
                        FROM slice s WHERE a.id = s.id AND a.ended_at < now() - make_interval(days => $3::int)
                          AND (a.feedback IS NOT NULL OR a.answers IS NOT NULL OR a.verification IS NOT NULL)
                        RETURNING a.id
                    )
                    SELECT (SELECT max(id) FROM slice), (SELECT count(*)::int FROM slice), (SELECT count(*)::int FROM cleared)
                    """, [after, batch, notesDays])[0]
                return (try row.isNull(at: 0) ? nil : row.decode(Int64.self, at: 0), try row.decode(Int.self, at: 1), try row.decode(Int.self, at: 2))
            }
            guard let next = step.last else { break }
            last = next
            scanned += step.scanned
            purged += step.purged
            FileHandle.standardError.write(Data("purge: \(scanned) attempts read, \(purged) cleared\n".utf8))
        }
        let corrections = try await pool.execute("""
            DELETE FROM person_corrections WHERE day < (now() AT TIME ZONE 'Asia/Kolkata')::date - $1::int
            """, [notesDays])
        let logRows = try await pool.execute("DELETE FROM processing_log WHERE at < now() - make_interval(days => $1::int)", [logDays])
        try await pool.execute("""
            INSERT INTO processing_log (action, requested_by, purpose, subject, detail)
            VALUES ('purge', current_user, 'retention', 'calls older than ' || $1::int || ' days',
                    jsonb_build_object('attempts_cleared', $2::int, 'corrections_deleted', $3::int, 'log_rows_deleted', $4::int))
            """, [notesDays, purged, corrections, logRows])
        say("purged: \(purged) calls' notes and answers (of \(scanned) read), \(corrections) corrections older than \(notesDays) days; \(logRows) processing-log rows older than \(logDays) days")
    }
}
