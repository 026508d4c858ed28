import ArgumentParser
import Foundation
import SamparkAMQP
import SamparkCore
import SamparkRuntime
import Synchronization

/// `sampark desk-sim`: plays the agents of one or many centres, as real desks would: each
/// agent logs in (`agent.presence.v1`) for its shift, takes one offer at a time from its
/// centre's queue, "talks" and wraps up for a while, publishes the outcome
/// (`call.outcome.v2`) under confirms, and only then acks the offer; it drops an offer that
/// reached it expired. Dispositions, survey and turnout answers follow the rates given, drawn
/// from a generator seeded by the attempt id, so a run can be repeated. Time runs on the same
/// clock as the dispatcher's (`SAMPARK_CLOCK_START`, `SAMPARK_CLOCK_SPEED`), or `--speed`.
/// For demos and load; tests take their truth from the ledger, not from this.
struct DeskSim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "desk-sim", abstract: "Play call centres' agents.")

    @Option(help: "A centre (code) whose offers to take; repeat it, or give several separated by commas.")
    var centre: [String]
    @Option(help: "Agents per centre (names <centre>-agent-1 ...).") var agents = 3
    @Option(help: "Shifts (IST, HH:MM-HH:MM;HH:MM-HH:MM): agent i works shift i mod their number, logged in only then.")
    var shifts: String?
    @Option(help: "Dispositions with their weights, disposition=weight,...") var rates =
        "connected=60,no_answer=14,busy=7,switched_off=6,not_reachable=3,wrong_number=3,call_back=2,refused=2,language_barrier=1,opted_out=2"
    @Option(help: "Of polling-day calls connected, the answers with their weights.") var turnout = "voted=70,not_yet=20,will_vote=10"
    @Option(help: "Mean talk time of a connected call, in simulated seconds.") var talk = 150.0
    @Option(help: "Ring time of an unanswered call, in simulated seconds.") var ring = 30.0
    @Option(help: "Wrap-up time after each call, in simulated seconds.") var wrapUp = 20.0
    @Option(help: "Simulated seconds per real second (default: SAMPARK_CLOCK_SPEED, else 1).") var speed: Double?
    @Option(help: "Seed for the dispositions.") var seed: UInt64 = 1
    @Option(help: "Stop after this many calls (0: no limit).") var count = 0
    @Option(help: "Stop when no offer came for this many real seconds (0: never).") var idle = 5.0
    @Option(help: "Stop after this many simulated seconds (0: no limit).") var duration = 0.0
    @Flag(help: "Play the centres' telephony gateways (their call.offer.<centre>.gateway queues, full numbers) instead of agents' desks.")
    var gateway = false
    @Flag(help: "Print only the summary.") var quiet = false
    @OptionGroup var servers: ServerOptions

    func validate() throws {
        guard agents > 0, agents <= 1000 else { throw ValidationError("--agents must be from 1 to 1000") }
        guard !centres.isEmpty else { throw ValidationError("give at least one --centre") }
        _ = try Weights(rates, as: Disposition.self, option: "--rates")
        _ = try Weights(turnout, as: CallOutcome.Turnout.self, option: "--turnout")
        if let shifts, shiftWindows(shifts) == nil { throw ValidationError("--shifts must be HH:MM-HH:MM;HH:MM-HH:MM") }
        if let speed, !(speed > 0 && speed <= 100_000) { throw ValidationError("--speed must be above 0 and at most 100000") }
    }

    var centres: [String] { centre.flatMap { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }.filter { !$0.isEmpty } }

    func run() async throws {
        let clock = try CallClock.shared(speed: speed)
        let dispositions = try Weights(rates, as: Disposition.self, option: "--rates")
        let turnouts = try Weights(turnout, as: CallOutcome.Turnout.self, option: "--turnout")
        try await servers.withConnection(name: "desk-sim") { amqp in
            try await play(on: amqp, clock: clock, dispositions: dispositions, turnouts: turnouts)
        }
    }

    private func play(on amqp: AMQPConnection, clock: CallClock, dispositions: Weights<Disposition>,
                      turnouts: Weights<CallOutcome.Turnout>) async throws {
        let windows = shifts.flatMap(shiftWindows) ?? []
        let tally = Tally()

        // Every agent's presence follows its shift on the simulated clock.
        let roster = centres.flatMap { centre in (1...agents).map { Agent(centre: centre, name: "\(centre)-agent-\($0)", number: $0) } }
        let presence = Presence(roster: roster, windows: windows)
        try await presence.update(at: clock.now(), on: amqp)

        var opened: [AMQPConsumer] = []
        for centre in centres {
            // Declared as the dispatcher declares them, in case the desks start first.
            try await Topology.apply(Topology.offerQueueSteps(centre: centre), on: amqp)
            let queue = Topology.offerQueue(centre: centre, dialing: gateway ? "gateway" : "preview")
            opened.append(try await amqp.consume(queue: queue, prefetch: UInt16(min(agents, 1000))))
        }
        let consumers = opened
        let lastOffer = Shared(ContinuousClock.now)
        let started = clock.now()
        let stop = Shared(false)
        let (idle, duration, count) = (self.idle, self.duration, self.count)
        let play = Play(seed: seed, talk: talk, ring: ring, wrapUp: wrapUp, quiet: quiet)

        let shiftTicker = Task {
            while !Task.isCancelled && !stop.value {
                try? await Task.sleep(for: .milliseconds(200))
                try? await presence.update(at: clock.now(), on: amqp)
            }
        }
        let watchdog = Task {
            while !Task.isCancelled && !stop.value {
                try? await Task.sleep(for: .milliseconds(200))
                let quiet = ContinuousClock.now - lastOffer.value
                if (idle > 0 && quiet > .milliseconds(Int(idle * 1000)))
                    || (duration > 0 && clock.now().timeIntervalSince(started) >= duration)
                    || (count > 0 && tally.calls >= count) {
                    stop.value = true
                }
            }
            for consumer in consumers { try? await consumer.cancel() }
        }

        await withTaskGroup(of: Void.self) { group in
            for consumer in consumers {
                group.addTask {
                    await withTaskGroup(of: Void.self) { calls in
                        do {
                            for try await delivery in consumer {
                                lastOffer.value = ContinuousClock.now
                                if stop.value {
                                    try? delivery.nack(requeue: true)
                                    continue
                                }
                                calls.addTask {
                                    await play.work(delivery, clock: clock, dispositions: dispositions, turnouts: turnouts,
                                                    presence: presence, tally: tally, amqp: amqp)
                                }
                            }
                        } catch {
                            say("desk-sim: \(consumer.queue): \(error)")
                        }
                        await calls.waitForAll()
                    }
                }
            }
        }
        stop.value = true
        watchdog.cancel()
        shiftTicker.cancel()
        try? await presence.logOutAll(at: clock.now(), on: amqp)
        say("desk-sim: \(centres.count) centre(s), \(agents) agents each: \(tally.summary)")
    }

    private func shiftWindows(_ text: String) -> [(from: Int, to: Int)]? {
        var windows: [(Int, Int)] = []
        for part in text.split(separator: ";") {
            let ends = part.split(separator: "-").map { $0.split(separator: ":").compactMap { Int($0) } }
            guard ends.count == 2, ends.allSatisfy({ $0.count == 2 }) else { return nil }
            windows.append((ends[0][0] * 3600 + ends[0][1] * 60, ends[1][0] * 3600 + ends[1][1] * 60))
        }
        return windows.isEmpty ? nil : windows
    }
}

/// How the agents play a call: the times and the seed.
struct Play: Sendable {
    let seed: UInt64
    let talk: Double
    let ring: Double
    let wrapUp: Double
    let quiet: Bool

    /// One call, start to end: an agent of the offer's centre takes it, talks, wraps up,
    /// publishes the outcome, then acks the offer.
    func work(_ delivery: Delivery, clock: CallClock, dispositions: Weights<Disposition>,
                      turnouts: Weights<CallOutcome.Turnout>, presence: Presence, tally: Tally, amqp: AMQPConnection) async {
        guard let offer = try? MessageCoding.decode(CallOffer.self, from: delivery.body) else {
            try? delivery.reject(requeue: false)
            tally.add("unreadable")
            return
        }
        // The same offer again (the relay may publish an offer twice if it died before
        // marking it sent): one call per attempt, never two at once.
        guard await presence.firstSight(of: offer.attemptID) else {
            try? delivery.ack()
            tally.add("repeated")
            return
        }
        let began = clock.now()
        guard offer.expiresAt > began else {
            // Too late to start this call: the dispatcher reclaims it.
            try? delivery.ack()
            tally.add("expired")
            return
        }
        let agent = await presence.takeAgent(of: offer.centre)
        defer { Task { await presence.release(agent, of: offer.centre) } }
        var random = SplitMix(seed: seed &+ UInt64(bitPattern: offer.attemptID) &* 0x9E37_79B9_7F4A_7C15)
        let disposition = dispositions.pick(&random)
        let talked = disposition == .connected || disposition == .refused || disposition == .languageBarrier || disposition == .callBack
            || disposition == .optedOut || disposition == .wrongNumber
        let talkSeconds = talked ? talk * (0.5 + random.unit()) * (disposition == .connected ? 1 : 0.2) : 0
        try? await Task.sleep(for: clock.realDuration(of: (talked ? talkSeconds : ring) + wrapUp))
        let ended = clock.now()
        var outcome = CallOutcome(attemptID: offer.attemptID, entryID: offer.entryID, centre: offer.centre, agent: agent,
                                  disposition: disposition, talkSeconds: Int(talkSeconds), startedAt: began, endedAt: ended)
        if disposition == .callBack { outcome.callbackAt = ended.addingTimeInterval(2 * 3600) }
        if disposition == .connected {
            outcome.notes = "simulated call"
            if let questions = offer.material?.questions, !questions.isEmpty {
                outcome.answers = Dictionary(uniqueKeysWithValues: questions.map { question in
                    (question.id, question.answers.flatMap { $0.isEmpty ? nil : $0[Int(random.next() % UInt64($0.count))] } ?? "free text")
                })
            }
            if random.unit() < 0.3 { outcome.issueTags = [["water", "roads", "electricity", "jobs", "ration"][Int(random.next() % 5)]] }
            switch offer.kind {
            case .getOutTheVote: outcome.turnout = turnouts.pick(&random)
            case .schemeFeedback: outcome.schemeFeedback = [.received, .received, .received, .partly, .notReceived][Int(random.next() % 5)]
            case .committeeReach, .relay:
                // Party workers confirm their record; one in twenty corrects it (for the district to confirm).
                let corrects = random.unit() < 0.05
                outcome.verification = .init(roleConfirmed: !corrects, unitConfirmed: true,
                                             corrections: corrects ? .init(role: ["booth_worker", "booth_president", "member"][Int(random.next() % 3)])
                                                                   : nil)
            default: break
            }
        }
        do {
            // One outcome per attempt even if this desk dies between publishing and acking.
            try await amqp.publish(outgoing(outcome, exchange: Topology.callsExchange, routingKey: "call.outcome",
                                            messageID: "outcome-of-attempt-\(offer.attemptID)"))
            try delivery.ack()
            tally.add(disposition.rawValue)
            if !quiet && tally.calls % 1000 == 0 { say("desk-sim: \(tally.calls) calls") }
        } catch {
            // Not acked: the offer comes back, to this desk or another, and is worked then.
            await presence.forget(offer.attemptID)
            try? delivery.nack(requeue: true)
            tally.add("unsent")
        }
    }

}

extension CallClock {
    /// The clock the dispatcher runs on (CallClock(environment:)), with `speed` instead of
    /// the variable's if given; a bad value stops the command naming it.
    static func shared(speed: Double? = nil) throws -> CallClock {
        do {
            return try CallClock(environment: ProcessInfo.processInfo.environment, speed: speed)
        } catch {
            throw ValidationError("\(error.variable)=\(error.value) is not \(error.allowed)")
        }
    }
}

struct Agent: Sendable {
    let centre: String
    let name: String
    let number: Int
}

/// Who is logged in, by shift, and which agents of each centre are free for the next call.
actor Presence {
    private let roster: [Agent]
    private let windows: [(from: Int, to: Int)]
    private var loggedIn: Set<String> = []
    private var free: [String: [String]] = [:]
    private var lastSent: [String: AgentPresence.State] = [:]
    private var seen: Set<Int64> = []

    init(roster: [Agent], windows: [(from: Int, to: Int)]) {
        self.roster = roster
        self.windows = windows
    }

    private func onShift(_ agent: Agent, at date: Date) -> Bool {
        guard !windows.isEmpty else { return true }
        let window = windows[(agent.number - 1) % windows.count]
        let seconds = (Int(date.timeIntervalSince1970) + 19_800) % 86_400
        return window.from <= seconds && seconds < window.to
    }

    /// Logs agents in and out as their shifts begin and end.
    func update(at date: Date, on amqp: AMQPConnection) async throws {
        var messages: [OutgoingMessage] = [], sent: [(String, AgentPresence.State)] = []
        for agent in roster {
            let state: AgentPresence.State = onShift(agent, at: date) ? .available : .loggedOut
            guard lastSent[agent.name] != state else { continue }
            sent.append((agent.name, state))
            if state == .available {
                if loggedIn.insert(agent.name).inserted { free[agent.centre, default: []].append(agent.name) }
            } else {
                loggedIn.remove(agent.name)
                free[agent.centre]?.removeAll { $0 == agent.name }
            }
            let shift = windows.isEmpty ? nil : windows[(agent.number - 1) % windows.count]
            let presence = AgentPresence(centre: agent.centre, agent: agent.name, state: state,
                                         shift: shift.map { String(format: "%02d:%02d-%02d:%02d", $0.from / 3600, $0.from / 60 % 60, $0.to / 3600, $0.to / 60 % 60) },
                                         at: date)
            messages.append(try outgoing(presence, exchange: Topology.callsExchange, routingKey: "agent.presence"))
        }
        guard !messages.isEmpty else { return }
        try await amqp.publish(messages)
        // Only once confirmed: a change that could not be sent is sent on the next update.
        for (agent, state) in sent { lastSent[agent] = state }
    }

    func logOutAll(at date: Date, on amqp: AMQPConnection) async throws {
        let messages = try roster.filter { lastSent[$0.name] == .available }.map { agent in
            try outgoing(AgentPresence(centre: agent.centre, agent: agent.name, state: .loggedOut, at: date),
                         exchange: Topology.callsExchange, routingKey: "agent.presence")
        }
        try await amqp.publish(messages)
    }

    /// A free agent of the centre (any of its agents if all are busy: an offer that arrives
    /// then is one the dispatcher made for an agent who has just logged out).
    func takeAgent(of centre: String) -> String {
        if var agents = free[centre], !agents.isEmpty {
            let agent = agents.removeFirst()
            free[centre] = agents
            return agent
        }
        return roster.first { $0.centre == centre }?.name ?? "\(centre)-agent-1"
    }

    /// Whether this attempt reaches the desks for the first time.
    func firstSight(of attempt: Int64) -> Bool { seen.insert(attempt).inserted }

    /// The attempt's call was not reported: when it comes back it is worked again.
    func forget(_ attempt: Int64) { seen.remove(attempt) }

    func release(_ agent: String, of centre: String) {
        guard loggedIn.contains(agent), !(free[centre]?.contains(agent) ?? false) else { return }
        free[centre, default: []].append(agent)
    }
}

/// Choices with weights, from `name=weight,...`.
struct Weights<Choice: RawRepresentable & Sendable>: Sendable where Choice.RawValue == String {
    let choices: [(Choice, Double)]
    let total: Double

    init(_ text: String, as: Choice.Type, option: String) throws {
        var choices: [(Choice, Double)] = []
        for part in text.split(separator: ",") {
            let pair = part.split(separator: "=").map { String($0).trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, let choice = Choice(rawValue: pair[0]), let weight = Double(pair[1]), weight >= 0 else {
                throw ValidationError("\(option): '\(part)' is not name=weight with a known name")
            }
            choices.append((choice, weight))
        }
        total = choices.reduce(0) { $0 + $1.1 }
        guard total > 0 else { throw ValidationError("\(option): the weights add up to nothing") }
        self.choices = choices
    }

    func pick(_ random: inout SplitMix) -> Choice {
        var left = random.unit() * total
        for (choice, weight) in choices {
            if left < weight { return choice }
            left -= weight
        }
        return choices[choices.count - 1].0
    }
}

/// A small seeded generator (SplitMix64), so a run's dispositions repeat.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

/// A value tasks share, behind a lock.
final class Shared<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>
    init(_ value: Value) { storage = Mutex(value) }
    var value: Value {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}

/// Calls by disposition (and offers dropped), shared by every agent.
final class Tally: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    private let total = Atomic<Int>(0)

    func add(_ what: String) {
        counts.withLock { $0[what, default: 0] += 1 }
        if Disposition(rawValue: what) != nil { total.add(1, ordering: .relaxed) }
    }

    var calls: Int { total.load(ordering: .relaxed) }

    var summary: String {
        let snapshot = counts.withLock { $0 }
        return "\(calls) calls: " + snapshot.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    }
}
