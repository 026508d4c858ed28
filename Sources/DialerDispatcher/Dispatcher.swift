import Foundation
import Logging
import SamparkCore
import SamparkPostgres
import SamparkRuntime
import ServiceLifecycle
import Synchronization

/// What the dispatcher tells its metrics (the worker wires Prometheus counters to it).
public struct DispatchObserver: Sendable {
    public var offered: @Sendable (_ centre: String, _ count: Int) -> Void
    public var refused: @Sendable (_ reason: String, _ count: Int) -> Void
    public var liveOffers: @Sendable (_ total: Double) -> Void

    public init(offered: @escaping @Sendable (String, Int) -> Void = { _, _ in },
                refused: @escaping @Sendable (String, Int) -> Void = { _, _ in },
                liveOffers: @escaping @Sendable (Double) -> Void = { _ in }) {
        self.offered = offered
        self.refused = refused
        self.liveOffers = liveOffers
    }
}

/// The dispatcher's loop (docs/dispatch.md). Every tick, and at once when woken (a list is
/// ready), it
/// 1. returns waiting entries whose time has come (retries, callbacks, gates that opened) to
///    the pool;
/// 2. reclaims offers no outcome answered by their reclaim time (none waiting in its queue,
///    none in the ledger): the entry is due again;
/// 3. tops up every centre with room and due entries, one transaction per centre, skipping a
///    centre another dispatcher (or an outcome) is filling.
/// Outcomes and presence changes top up their own centre in their own transaction
/// (`fill(centreID:context:)`), so an agent's next offer does not wait for a tick.
public final class Dispatcher: Service, Sendable {
    public let settings: DispatchSettings
    private let pool: PostgresPool
    private let relay: OutboxRelay?
    private let logger: Logger
    private let observer: DispatchObserver
    private let filler: CentreFill
    private let backlog: (@Sendable () async -> Int)?
    private let signal = WakeSignal()

    /// - Parameter backlog: how many messages wait in this dispatcher's queue (offers are
    ///   reclaimed only when none do).
    public init(settings: DispatchSettings, pool: PostgresPool, relay: OutboxRelay?, offerQueues: OfferQueues?,
                appID: String = "dialer-dispatcher", logger: Logger, observer: DispatchObserver = DispatchObserver(),
                backlog: (@Sendable () async -> Int)? = nil) {
        self.settings = settings
        self.pool = pool
        self.relay = relay
        self.logger = logger
        self.observer = observer
        self.filler = CentreFill(settings: settings, appID: appID, offerQueues: offerQueues)
        self.backlog = backlog
    }

    /// Asks for a round now.
    public func wake() { signal.wake() }

    /// Tops up a centre inside a handler's transaction, waiting for its lock (the handler's
    /// change must be seen by the fill that follows it).
    func fill(centreID: Int64, context: HandlerContext) throws {
        let result = try filler.fill(centreID: centreID, now: settings.clock.now(), wait: true, on: context.connection)
        context.didInsertOutboxRows(result.offered)
        report(result, within: context)
    }

    private func report(_ result: CentreFill.Result, within context: HandlerContext? = nil) {
        let observer = self.observer
        let tell: @Sendable () -> Void = {
            if let centre = result.centre, result.offered > 0 { observer.offered(centre, result.offered) }
            for (reason, count) in result.refused { observer.refused(reason, count) }
        }
        // Inside a handler, only once its transaction has committed.
        if let context { context.onCommit(tell) } else { tell() }
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await self.round()
                } catch {
                    self.logger.warning("dispatch round failed; trying again", metadata: ["error": "\(error)"])
                }
                await self.signal.sleep(upTo: self.settings.tick)
            }
        }
    }

    /// What one round did; for tests and the benchmark.
    public struct Round: Sendable, Equatable {
        public var released = 0
        public var reclaimed = 0
        public var offered = 0
        public var refused: [String: Int] = [:]
    }

    /// One round: release, reclaim, top up every centre with room.
    @discardableResult
    public func round() async throws -> Round {
        var round = Round()
        let now = settings.clock.now()
        // Bounded batches: no statement holds many locks for long.
        while true {
            let released = try await pool.execute("""
                -- A hold by a gate is over once it opens; a retry keeps its last disposition.
                UPDATE list_entries SET state = 'pending', next_attempt_at = NULL,
                    last_result = CASE WHEN last_result IN ('silence_period', 'before_poll_day') THEN NULL ELSE last_result END
                WHERE id IN (SELECT id FROM list_entries WHERE state = 'waiting' AND next_attempt_at <= $1
                             ORDER BY next_attempt_at LIMIT 5000 FOR NO KEY UPDATE SKIP LOCKED)
                """, [now], prepared: true)
            round.released += released
            if released < 5000 { break }
        }
        // Reclaim only with no outcome waiting in this dispatcher's queue (after an outage the
        // answers of old offers may be queued: reclaiming first would call those people again),
        // and never an offer whose call the ledger already holds.
        while await (backlog?() ?? 0) == 0 {
            let reclaimed = try await pool.query("""
                WITH gone AS (
                    UPDATE offers SET state = 'expired', settled_at = $1
                    WHERE id IN (SELECT o.id FROM offers o WHERE o.state = 'live' AND o.reclaim_at <= $1
                                   AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.offer_id = o.id)
                                 LIMIT 5000 FOR NO KEY UPDATE SKIP LOCKED)
                    RETURNING entry_id
                ), back AS (
                    UPDATE list_entries e SET state = 'pending' FROM gone g WHERE e.id = g.entry_id AND e.state = 'offered'
                )
                SELECT count(*)::int FROM gone
                """, [now], prepared: true)[0].decode(Int.self, at: 0)
            round.reclaimed += reclaimed
            if reclaimed < 5000 { break }
        }
        // Centres with room (agents available, at most their seats, beyond the live offers'
        // weight) and something due.
        let centres = try await pool.query("""
            SELECT c.id, c.code, least(coalesce(a.n, 0), c.seats) - coalesce(o.used, 0) AS room, coalesce(o.used, 0),
                   EXISTS (SELECT 1 FROM list_entries e WHERE e.centre_id = c.id AND e.state = 'pending') AS due
            FROM call_centres c
            LEFT JOIN (SELECT centre_id, count(*) AS n FROM agents WHERE state = 'available' GROUP BY centre_id) a ON a.centre_id = c.id
            LEFT JOIN (SELECT centre_id, sum(weight)::float8 AS used FROM offers WHERE state = 'live' GROUP BY centre_id) o ON o.centre_id = c.id
            ORDER BY c.id
            """, prepared: true)
        var live = 0.0
        var due: [DueCentre] = []
        for row in centres {
            live += try row.decode(Double.self, at: 3)
            guard try row.decode(Double.self, at: 2) > 1e-6, try row.decode(Bool.self, at: 4) else { continue }
            due.append(DueCentre(id: try row.decode(Int64.self, at: 0), code: try row.decode(String.self, at: 1)))
        }
        // `fillsAtOnce` centres at a time, each in its own transaction.
        let filler = self.filler, clock = settings.clock, pool = self.pool, logger = self.logger
        await forEachConcurrently(due, atMost: settings.fillsAtOnce, { centre -> CentreFill.Result? in
            do {
                // The clock read per centre: a slow round must not judge 21:00:01 as 20:59:59.
                return try await pool.transaction { connection in
                    try filler.fill(centreID: centre.id, now: clock.now(), wait: false, on: connection)
                }
            } catch {
                // One centre's failure does not keep the others waiting.
                logger.warning("could not fill a centre; trying again next round", metadata: ["centre": "\(centre.code)", "error": "\(error)"])
                return nil
            }
        }, collect: { finished in
            guard let result = finished else { return }
            if result.offered > 0 { relay?.wake() }
            report(result)
            live += result.weight
            round.offered += result.offered
            for (reason, count) in result.refused { round.refused[reason, default: 0] += count }
        })
        // After the round: the live offers read before it, and what its fills added.
        observer.liveOffers(live)
        if round.offered + round.released + round.reclaimed > 0 || !round.refused.isEmpty {
            logger.info("dispatch round", metadata: [
                "offered": "\(round.offered)", "released": "\(round.released)", "reclaimed": "\(round.reclaimed)",
                "refused": "\(round.refused.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))",
            ])
        }
        return round
    }
}

/// A centre a round fills: it has room and something due.
private struct DueCentre: Sendable {
    let id: Int64
    let code: String
}
