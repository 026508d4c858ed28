import Foundation
import SamparkCore
import SamparkPostgres
import SamparkRuntime

/// Handles `list.ready.v2`: a list's entries are already due in the database; the dispatcher
/// looks at once instead of at its next tick.
public struct ListReadyHandler: MessageHandler {
    let dispatcher: Dispatcher

    public init(dispatcher: Dispatcher) { self.dispatcher = dispatcher }

    public func handle(_ ready: ListReady, context: HandlerContext) throws {
        context.onCommit { [dispatcher] in dispatcher.wake() }
    }
}

/// Handles `agent.presence.v1`: the agent's latest state (an event older than the one stored
/// changes nothing), then the centre is topped up in the same transaction, so an agent who
/// logs in has an offer waiting.
public struct AgentPresenceHandler: MessageHandler {
    let dispatcher: Dispatcher

    public init(dispatcher: Dispatcher) { self.dispatcher = dispatcher }

    public func handle(_ presence: AgentPresence, context: HandlerContext) throws {
        let connection = context.connection
        guard !presence.agent.isEmpty, presence.agent.count <= 100 else {
            throw HandlerError.permanent("agent: is empty or longer than 100 characters")
        }
        guard let centre = try connection.query("SELECT id FROM call_centres WHERE code = $1", [presence.centre],
                                                prepared: true).first?.decode(Int64.self, at: 0) else {
            throw HandlerError.permanent("centre: no call centre has this code")
        }
        // Only the centre's own desks (or a trusted user) say who is at its seats.
        if let refusal = Sender.refusal(context.sender, forCentre: presence.centre) { throw HandlerError.permanent(refusal) }
        try connection.execute("""
            INSERT INTO agents (centre_id, agent, state, shift, changed_at) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (centre_id, agent) DO UPDATE SET state = EXCLUDED.state, shift = EXCLUDED.shift, changed_at = EXCLUDED.changed_at
            WHERE agents.changed_at <= EXCLUDED.changed_at
            """, [centre, presence.agent, presence.state.rawValue, presence.shift, presence.at], prepared: true)
        try dispatcher.fill(centreID: centre, context: context)
    }
}

/// Handles `call.outcome.v2` on the dispatcher's own queue (the feedback-aggregator keeps the
/// ledger from its copy): settles the attempt, sets the entry's next state from the
/// disposition, and tops up the centre, all in one transaction, so the agent who reported
/// has the next offer as soon as this commits.
///
/// The next state (docs/dispatch.md): connected, refused or a language barrier end the entry;
/// no answer, busy, switched off and not reachable wait by the retry spacing, a callback
/// until the time asked for; a wrong number or an opt-out end it for good (an opt-out is
/// stored here too, so no other entry of the number is offered before the aggregator runs);
/// an entry that has used its attempts is exhausted.
public struct OutcomeHandler: MessageHandler {
    let dispatcher: Dispatcher

    public init(dispatcher: Dispatcher) { self.dispatcher = dispatcher }

    public func handle(_ outcome: CallOutcome, context: HandlerContext) throws {
        let connection = context.connection
        let now = dispatcher.settings.clock.now()
        guard let offer = try connection.query("""
            SELECT o.state, o.entry_id, o.centre_id, e.attempts, k.max_attempts,
                   -- This offer is not the entry's last, or the entry has ended meanwhile: the
                   -- call counts as an attempt, and decides nothing.
                   EXISTS (SELECT 1 FROM offers x WHERE x.entry_id = o.entry_id AND x.id > o.id)
                       OR e.state IN ('completed', 'suppressed', 'exhausted'), e.phone_hash,
                   (SELECT code FROM call_centres WHERE id = o.centre_id)
            FROM offers o JOIN list_entries e ON e.id = o.entry_id
            JOIN call_lists l ON l.id = e.list_id JOIN campaigns k ON k.id = l.campaign_id
            WHERE o.id = $1 FOR NO KEY UPDATE OF o, e
            """, [outcome.attemptID], prepared: true).first else {
            throw HandlerError.permanent("attempt_id: no offer was made with this attempt id")
        }
        guard try offer.decode(Int64.self, at: 1) == outcome.entryID else {
            throw HandlerError.permanent("entry_id: the attempt was an offer of another entry")
        }
        // Only the centre that was offered the call (or a trusted user) reports how it went.
        if let refusal = Sender.refusal(context.sender, forCentre: try offer.decode(String.self, at: 7)) {
            throw HandlerError.permanent(refusal)
        }
        // A second outcome for one attempt (another message id): the first one counted.
        guard try offer.decode(String.self, at: 0) != "answered" else { return }
        let centreID = try offer.decode(Int64.self, at: 2)
        try connection.execute("""
            UPDATE offers SET state = 'answered', settled_at = $2, disposition = $3, agent = $4 WHERE id = $1
            """, [outcome.attemptID, now, outcome.disposition.rawValue, outcome.agent], prepared: true)

        let attempts = try offer.decode(Int.self, at: 3) + 1
        if try offer.decode(Bool.self, at: 5) {
            // A late answer to a reclaimed offer: the entry was offered again (that offer's
            // outcome decides), or it has ended. The call still counts as an attempt.
            try connection.execute("UPDATE list_entries SET attempts = attempts + 1 WHERE id = $1", [outcome.entryID], prepared: true)
        } else {
            let next = dispatcher.settings.retry.next(after: outcome.disposition, callbackAt: outcome.callbackAt, now: now,
                                                       attempts: attempts, maxAttempts: try offer.decode(Int.self, at: 4))
            try connection.execute("""
                UPDATE list_entries SET state = $2, attempts = attempts + 1, last_result = $3, next_attempt_at = $4 WHERE id = $1
                """, [outcome.entryID, next.state, outcome.disposition.rawValue, next.at], prepared: true)
        }
        // (An erased person's entry has no number left: they are off every list already.)
        if outcome.disposition == .optedOut, let hash = try offer.decode(Data?.self, at: 6) {
            try connection.execute("INSERT INTO opt_outs (phone_hash, source) VALUES ($1, 'call') ON CONFLICT (phone_hash) DO NOTHING",
                                   [hash], prepared: true)
        }
        try dispatcher.fill(centreID: centreID, context: context)
    }
}

extension RetrySpacing {
    /// The entry's state after a call with this disposition, and when it is due again.
    public func next(after disposition: Disposition, callbackAt: Date?, now: Date, attempts: Int,
                     maxAttempts: Int) -> (state: String, at: Date?) {
        let wait: Int
        switch disposition {
        case .connected, .refused, .languageBarrier: return ("completed", nil)
        case .wrongNumber, .optedOut: return ("suppressed", nil)
        case .noAnswer: wait = noAnswerMinutes
        case .busy: wait = busyMinutes
        case .switchedOff, .notReachable: wait = switchedOffMinutes
        case .callBack:
            guard attempts < maxAttempts else { return ("exhausted", nil) }
            // The time the person asked for, if it is ahead and within a week.
            if let callbackAt, callbackAt > now, callbackAt < now.addingTimeInterval(7 * 86_400) { return ("waiting", callbackAt) }
            wait = noAnswerMinutes
        }
        guard attempts < maxAttempts else { return ("exhausted", nil) }
        return ("waiting", now.addingTimeInterval(TimeInterval(wait * 60)))
    }
}
