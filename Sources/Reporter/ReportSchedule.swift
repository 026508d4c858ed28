import Foundation
import Logging
import SamparkCore
import SamparkPostgres
import SamparkRuntime
import ServiceLifecycle

/// Publishes the day's reports by itself at the set time (IST, `SAMPARK_REPORT_AT`): every
/// district's, each state's and the nation's. The day's run is claimed by a row in
/// `report_runs` written in the transaction that writes the reports' outbox rows, so of
/// several reporter copies exactly one publishes, once, and a copy killed midway leaves the
/// day unclaimed for the next look.
public struct ReportSchedule: Service {
    let settings: ReportSettings
    let pool: PostgresPool
    let relay: OutboxRelay?
    let logger: Logger

    public init(settings: ReportSettings, pool: PostgresPool, relay: OutboxRelay?, logger: Logger) {
        self.settings = settings
        self.pool = pool
        self.relay = relay
        self.logger = logger
    }

    public func run() async throws {
        // Off: nothing to do, but a service that returns early would stop the worker.
        guard settings.publishAt != nil else {
            try? await gracefulShutdown()
            return
        }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    if let published = try await self.publishIfDue() {
                        self.logger.info("published the day's reports", metadata: ["reports": "\(published)"])
                    }
                } catch {
                    self.logger.warning("scheduled reports failed; trying again", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: self.settings.poll)
            }
        }
    }

    /// Publishes today's reports if the set time has passed and no copy has; returns how many.
    @discardableResult
    public func publishIfDue() async throws -> Int? {
        guard let at = settings.publishAt else { return nil }
        let now = settings.clock.now()
        let day = IST.day(of: now), minute = IST.minuteOfDay(now)
        guard minute >= at else { return nil }
        let settings = settings
        let published: Int? = try await pool.transaction { connection in
            guard try connection.query("""
                INSERT INTO report_runs (day, reports) VALUES ($1::date, 0) ON CONFLICT (day) DO NOTHING RETURNING day
                """, [day], prepared: true).first != nil else { return nil }
            let ids = try ReportPublishing.publishAll(day: day, settings: settings, generatedAt: now, requestMessageID: nil,
                                                      on: connection) { report, key in
                try Outbox.insert(report, exchange: Topology.reportsExchange, routingKey: key,
                                  messageID: "scheduled/\(report.reportID)", appID: "reporter", mandatory: false, on: connection)
            }
            try connection.execute("UPDATE report_runs SET reports = $2 WHERE day = $1::date", [day, ids.count], prepared: true)
            return ids.count
        }
        if published != nil { relay?.wake() }
        return published
    }
}
