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
}
