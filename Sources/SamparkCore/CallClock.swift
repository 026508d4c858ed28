import Foundation

/// The time the lawful-calling rules are judged at: the wall clock in production. A rehearsal
/// or a test may start it at another moment (a polling day, 20:59:59 IST) and run it faster
/// (`SAMPARK_CLOCK_START`, `SAMPARK_CLOCK_SPEED`); it then runs from that moment at that
/// speed from the time the process started, or from `SAMPARK_CLOCK_ORIGIN` (a real instant),
/// so that processes started at different times share one faster clock.
public struct CallClock: Sendable {
    public let start: Date?
    public let speed: Double
    private let origin: Date

    public init(start: Date? = nil, speed: Double = 1, origin: Date = Date()) {
        self.start = start
        self.speed = speed
        self.origin = origin
    }

    public var isWallClock: Bool { start == nil && speed == 1 }

    public func now() -> Date {
        if isWallClock { return Date() }
        let elapsed = Date().timeIntervalSince(origin) * speed
        return (start ?? origin).addingTimeInterval(elapsed)
    }

    /// A clock standing still at `moment`: for tests of the rules at an exact instant.
    public static func fixed(at moment: Date) -> CallClock { CallClock(start: moment, speed: 0) }

    /// How long `simulated` seconds of this clock last in real time.
    public func realDuration(of simulated: TimeInterval) -> Duration {
        .milliseconds(Int64(max(0, simulated / max(speed, 1e-9) * 1000)))
    }

    /// The variables that set it: `SAMPARK_CLOCK_START` (ISO 8601 with its offset) and
    /// `SAMPARK_CLOCK_SPEED` (1 to 10000). Returns nil for a bad value, naming nothing: each
    /// caller words its own error.
    public static let startVariable = "SAMPARK_CLOCK_START", speedVariable = "SAMPARK_CLOCK_SPEED"
    /// The real instant at which the clock reads `SAMPARK_CLOCK_START` (ISO 8601, or seconds
    /// since 1970); default: the process's start.
    public static let originVariable = "SAMPARK_CLOCK_ORIGIN"

    public static func parseOrigin(_ text: String) -> Date? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let seconds = Double(trimmed) { return Date(timeIntervalSince1970: seconds) }
        return parseStart(trimmed)
    }

    public static func parseStart(_ text: String) -> Date? {
        ISO8601DateFormatter().date(from: text.trimmingCharacters(in: .whitespaces))
    }

    public static func parseSpeed(_ text: String) -> Double? {
        guard let speed = Double(text.trimmingCharacters(in: .whitespaces)), speed >= 1, speed <= 10_000 else { return nil }
        return speed
    }

    /// A clock variable with a value its parser refused.
    public struct BadVariable: Error {
        public let variable: String
        public let value: String
        /// What the variable takes, in words for the error.
        public let allowed: String
    }

    /// The clock the environment names (`SAMPARK_CLOCK_START`, `SAMPARK_CLOCK_SPEED`,
    /// `SAMPARK_CLOCK_ORIGIN`): the wall clock unless a rehearsal moves it. `speed` overrides
    /// the variable's. Every process that judges time reads it here, so they agree.
    public init(environment: [String: String], speed override: Double? = nil) throws(BadVariable) {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        var start: Date?
        if let raw = value(Self.startVariable) {
            guard let date = Self.parseStart(raw) else {
                throw BadVariable(variable: Self.startVariable, value: raw,
                                  allowed: "a moment as ISO 8601 with its offset, such as 2028-11-17T10:00:00+05:30")
            }
            start = date
        }
        var speed = override ?? 1
        if override == nil, let raw = value(Self.speedVariable) {
            guard let parsed = Self.parseSpeed(raw) else {
                throw BadVariable(variable: Self.speedVariable, value: raw, allowed: "a number from 1 to 10000")
            }
            speed = parsed
        }
        var origin = Date()
        if let raw = value(Self.originVariable) {
            guard let date = Self.parseOrigin(raw) else {
                throw BadVariable(variable: Self.originVariable, value: raw, allowed: "an instant as ISO 8601 or seconds since 1970")
            }
            origin = date
        }
        self.init(start: start, speed: speed, origin: origin)
    }
}

/// Days and times of day in India Standard Time, as reports, rehearsals and generated files
/// name them (`YYYY-MM-DD`).
public enum IST {
    private static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Asia/Kolkata")!
        return calendar
    }()

    /// The IST day of a moment, `YYYY-MM-DD`.
    public static func day(of date: Date) -> String {
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!)
    }

    /// Minutes after IST midnight.
    public static func minuteOfDay(_ date: Date) -> Int {
        let c = calendar.dateComponents([.hour, .minute], from: date)
        return c.hour! * 60 + c.minute!
    }

    /// The IST midnight starting a `YYYY-MM-DD` day; nil if it is not one.
    public static func midnight(of day: String) -> Date? {
        let parts = day.split(separator: "-").compactMap { Int($0) }
        guard day.count == 10, parts.count == 3 else { return nil }
        return calendar.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2]))
    }
}

