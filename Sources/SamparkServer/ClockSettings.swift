import Foundation
import SamparkCore

extension CallClock {
    /// The clock the settings name (`SAMPARK_CLOCK_START`, `SAMPARK_CLOCK_SPEED`): the wall
    /// clock unless a rehearsal moves it. Every worker that judges time reads it the same way.
    public init(reader: SettingsReader) throws {
        var start: Date?
        if let raw = reader.value(CallClock.startVariable) {
            guard let date = CallClock.parseStart(raw) else {
                throw SettingsError(variable: CallClock.startVariable, value: raw,
                                    allowed: "a moment as ISO 8601 with its offset, such as 2028-11-17T10:00:00+05:30")
            }
            start = date
        }
        var speed = 1.0
        if let raw = reader.value(CallClock.speedVariable) {
            guard let value = CallClock.parseSpeed(raw) else {
                throw SettingsError(variable: CallClock.speedVariable, value: raw, allowed: "a number from 1 to 10000")
            }
            speed = value
        }
        var origin = Date()
        if let raw = reader.value(CallClock.originVariable) {
            guard let date = CallClock.parseOrigin(raw) else {
                throw SettingsError(variable: CallClock.originVariable, value: raw, allowed: "an instant as ISO 8601 or seconds since 1970")
            }
            origin = date
        }
        self.init(start: start, speed: speed, origin: origin)
    }
}
