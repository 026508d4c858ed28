import Foundation
import SamparkCore
import SamparkServer

/// The dispatcher's own settings (`SAMPARK_*`, docs/operations.md): the calling-hours rules,
/// how long offers live, how retries are spaced, and the clock the rules are judged by.
public struct DispatchSettings: Sendable {
    public var hours: CallingHours
    /// After this no desk may start the call (the offer's `expires_at`, and its TTL on the queue).
    public var offerLifetime: TimeInterval
    /// The longest a call may take once a desk took its offer; an offer unanswered by then is
    /// reclaimed and its entry offered again.
    public var longestCall: TimeInterval
    public var retry: RetrySpacing
    /// The silence period: no voter campaign calls into a constituency in this many hours
    /// ending with its poll's close (Section 126 of the Representation of the People Act).
    public var silenceHours: Int
    /// How often the dispatcher looks at every centre when nothing woke it.
    public var tick: Duration
    /// The most offers one claim statement makes.
    public var claimBatch: Int
    /// How many centres a round fills at once, each in its own transaction on its own
    /// connection. One fill is a chain of statements, each waiting on the last, which left
    /// half of the machine idle; centres share no rows, so their fills never wait on each other.
    public var fillsAtOnce: Int
    public var clock: CallClock

    public init(hours: CallingHours = .standard, offerLifetime: TimeInterval = 600, longestCall: TimeInterval = 1800,
                retry: RetrySpacing = RetrySpacing(), silenceHours: Int = 48, tick: Duration = .seconds(1), claimBatch: Int = 500,
                fillsAtOnce: Int = 2, clock: CallClock = CallClock()) {
        self.fillsAtOnce = max(1, fillsAtOnce)
        self.hours = hours
        self.offerLifetime = offerLifetime
        self.longestCall = longestCall
        self.retry = retry
        self.silenceHours = silenceHours
        self.tick = tick
        self.claimBatch = claimBatch
        self.clock = clock
    }

    public enum Variable {
        public static let voterHours = "SAMPARK_VOTER_CALLING_HOURS"
        public static let voterNever = "SAMPARK_VOTER_NO_CALLS"
        public static let organisationHours = "SAMPARK_ORGANISATION_CALLING_HOURS"
        public static let offerLifetime = "SAMPARK_OFFER_LIFETIME"
        public static let longestCall = "SAMPARK_LONGEST_CALL"
        public static let retryNoAnswer = "SAMPARK_RETRY_NO_ANSWER_MINUTES"
        public static let retryBusy = "SAMPARK_RETRY_BUSY_MINUTES"
        public static let retrySwitchedOff = "SAMPARK_RETRY_SWITCHED_OFF_MINUTES"
        public static let silenceHours = "SAMPARK_SILENCE_HOURS"
        public static let tick = "SAMPARK_DISPATCH_TICK"
        public static let fillsAtOnce = "SAMPARK_DISPATCH_FILLS_AT_ONCE"
    }

    /// Reads every variable; throws `SettingsError` naming the first bad one.
    public init(reader: SettingsReader) throws {
        func window(_ name: String, _ fallback: DailyWindow) throws -> DailyWindow {
            guard let raw = reader.value(name) else { return fallback }
            guard let window = DailyWindow(raw.trimmingCharacters(in: .whitespaces)) else {
                throw SettingsError(variable: name, value: raw, allowed: "hours as HH:MM-HH:MM (IST), such as 09:00-21:00")
            }
            return window
        }
        let standard = CallingHours.standard
        hours = CallingHours(voterHours: try window(Variable.voterHours, standard.voterHours),
                             voterNever: try window(Variable.voterNever, standard.voterNever),
                             organisationHours: try window(Variable.organisationHours, standard.organisationHours))
        func seconds(_ name: String, _ fallback: Double, _ range: ClosedRange<Double>) throws -> TimeInterval {
            let duration = try reader.seconds(name, default: .milliseconds(Int64(fallback * 1000)), in: range)
            return Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        }
        offerLifetime = try seconds(Variable.offerLifetime, 600, 5...86_400)
        longestCall = try seconds(Variable.longestCall, 1800, 0...86_400)
        let spacing = RetrySpacing()
        retry = RetrySpacing(noAnswerMinutes: try reader.integer(Variable.retryNoAnswer, default: spacing.noAnswerMinutes, in: 0...10_080),
                             busyMinutes: try reader.integer(Variable.retryBusy, default: spacing.busyMinutes, in: 0...10_080),
                             switchedOffMinutes: try reader.integer(Variable.retrySwitchedOff, default: spacing.switchedOffMinutes, in: 0...10_080))
        silenceHours = try reader.integer(Variable.silenceHours, default: 48, in: 0...168)
        let tickSeconds = try seconds(Variable.tick, 1, 0.05...60)
        tick = .milliseconds(Int64(tickSeconds * 1000))
        claimBatch = 500
        fillsAtOnce = try reader.integer(Variable.fillsAtOnce, default: 2, in: 1...16)
        clock = try CallClock(reader: reader)
    }
}

/// How long an entry waits before its next attempt, by the last call's disposition. A wrong
/// number is never called again; a callback waits for the time the person asked for.
public struct RetrySpacing: Sendable, Equatable {
    public var noAnswerMinutes: Int
    public var busyMinutes: Int
    /// Switched off or not reachable: the phone is away; try much later.
    public var switchedOffMinutes: Int

    public init(noAnswerMinutes: Int = 60, busyMinutes: Int = 15, switchedOffMinutes: Int = 180) {
        self.noAnswerMinutes = noAnswerMinutes
        self.busyMinutes = busyMinutes
        self.switchedOffMinutes = switchedOffMinutes
    }
}
