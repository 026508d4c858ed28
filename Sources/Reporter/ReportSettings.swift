import Foundation
import SamparkCore
import SamparkServer

/// The reporter's settings (`SAMPARK_*`, docs/operations.md).
public struct ReportSettings: Sendable {
    /// When (IST, minutes after midnight) the day's reports go out by themselves; nil: only
    /// on request.
    public var publishAt: Int?
    /// The party whose past results a dossier weighs, unless the request names one.
    public var party: String?
    /// The level whose units get a daily report each (levels are data: `district`).
    public var districtLevel: String
    /// How often the schedule looks at the clock (real time).
    public var poll: Duration
    public var clock: CallClock

    public init(publishAt: Int? = 21 * 60 + 30, party: String? = nil, districtLevel: String = "district", poll: Duration = .seconds(20),
                clock: CallClock = CallClock()) {
        self.publishAt = publishAt
        self.party = party
        self.districtLevel = districtLevel
        self.poll = poll
        self.clock = clock
    }

    public enum Variable {
        public static let publishAt = "SAMPARK_REPORT_AT"
        public static let party = "SAMPARK_PARTY"
        public static let districtLevel = "SAMPARK_DISTRICT_LEVEL"
    }

    public init(reader: SettingsReader) throws {
        self.init()
        let at = reader.string(Variable.publishAt, default: "21:30").trimmingCharacters(in: .whitespaces)
        if at == "off" {
            publishAt = nil
        } else {
            let parts = at.split(separator: ":")
            guard parts.count == 2, let h = Int(parts[0]), let m = Int(parts[1]), (0..<24).contains(h), (0..<60).contains(m) else {
                throw SettingsError(variable: Variable.publishAt, value: at, allowed: "a time of day as HH:MM (IST), or off")
            }
            publishAt = h * 60 + m
        }
        party = reader.value(Variable.party).map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
        districtLevel = reader.string(Variable.districtLevel, default: "district")
        clock = try CallClock(reader: reader)
    }
}
