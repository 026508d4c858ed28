import Foundation
import SamparkCore

/// A time of day in Indian Standard Time, to the second. IST is UTC+05:30 all year (India has
/// no daylight saving), so it is plain arithmetic on the Unix time.
public struct ISTTime: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// Seconds since midnight IST, 0..<86400.
    public let seconds: Int

    public static let offsetSeconds = 19_800

    public init(seconds: Int) { self.seconds = ((seconds % 86_400) + 86_400) % 86_400 }

    public init(_ date: Date) { self.init(seconds: Int(date.timeIntervalSince1970.rounded(.down)) + Self.offsetSeconds) }

    /// `HH:MM` or `HH:MM:SS`; `24:00` is the end of the day.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.count == 2 || parts.count == 3, parts.allSatisfy({ $0 != nil }) else { return nil }
        let h = parts[0]!, m = parts[1]!, s = parts.count == 3 ? parts[2]! : 0
        guard (0...24).contains(h), (0..<60).contains(m), (0..<60).contains(s), h < 24 || (m == 0 && s == 0) else { return nil }
        seconds = h * 3600 + m * 60 + s   // 24:00 stays 86400: only ever a window's end
    }

    public static func < (a: ISTTime, b: ISTTime) -> Bool { a.seconds < b.seconds }

    public var description: String { String(format: "%02d:%02d", seconds / 3600, seconds / 60 % 60) }
}

/// Hours of the day in IST from `from` (included) to `to` (excluded). A window whose end is
/// before its start runs over midnight (`22:00-06:00`).
public struct DailyWindow: Hashable, Sendable, CustomStringConvertible {
    public let from: ISTTime
    public let to: ISTTime

    public init(from: ISTTime, to: ISTTime) {
        self.from = from
        self.to = to
    }

    /// `HH:MM-HH:MM`.
    public init?(_ text: String) {
        let ends = text.split(separator: "-", omittingEmptySubsequences: false)
        guard ends.count == 2, let from = ISTTime(String(ends[0]).trimmingCharacters(in: .whitespaces)),
              let to = ISTTime(String(ends[1]).trimmingCharacters(in: .whitespaces)), from != to else { return nil }
        self.init(from: from, to: to)
    }

    public func contains(_ time: ISTTime) -> Bool {
        from < to ? (from <= time && time < to) : (time >= from || time < to)
    }

    public var description: String { "\(from)-\(to)" }
}

/// The calling-hours rules (DOMAIN.md, "Rules a lawful system obeys"), all settings:
/// - voter campaigns call within `voterHours` (default 09:00-21:00, the telecom rule) and
///   never within `voterNever` (default 22:00-06:00, the Election Commission's bar), whatever
///   else widens their window;
/// - organisation campaigns (calls among party workers: committee reach, relay, candidates)
///   call within `organisationHours`;
/// - a campaign may narrow its window; a centre calls only within its hours and its shifts.
public struct CallingHours: Sendable, Equatable {
    public var voterHours: DailyWindow
    public var voterNever: DailyWindow
    public var organisationHours: DailyWindow

    public static let standard = CallingHours(
        voterHours: DailyWindow("09:00-21:00")!, voterNever: DailyWindow("22:00-06:00")!,
        organisationHours: DailyWindow("08:00-22:00")!)

    public init(voterHours: DailyWindow, voterNever: DailyWindow, organisationHours: DailyWindow) {
        self.voterHours = voterHours
        self.voterNever = voterNever
        self.organisationHours = organisationHours
    }

    /// Whether a call of this campaign may be offered by this centre at `time`.
    /// - Parameters:
    ///   - campaignWindow: the campaign's own narrower window, if it has one.
    ///   - centreWindows: the centre's calling hours and each of its shifts; the call must be
    ///     within the first and within one of the rest (an empty list of shifts: no shift bound).
    public func allows(_ kind: CampaignKind, at time: ISTTime, campaignWindow: DailyWindow?,
                       centreHours: DailyWindow?, centreShifts: [DailyWindow]) -> Bool {
        if kind.callsVoters {
            guard voterHours.contains(time), !voterNever.contains(time) else { return false }
        } else {
            guard organisationHours.contains(time) else { return false }
        }
        if let campaignWindow, !campaignWindow.contains(time) { return false }
        if let centreHours, !centreHours.contains(time) { return false }
        return centreShifts.isEmpty || centreShifts.contains { $0.contains(time) }
    }
}

extension CallingHours {
    /// Seconds from `time` until the campaign's window shuts (the first second `allows` says
    /// no), or nil when it never does. The answer only changes at a window's edge, so only the
    /// edges ahead are tried, nearest first.
    public func secondsLeft(_ kind: CampaignKind, at time: ISTTime, campaignWindow: DailyWindow?, centreHours: DailyWindow?,
                            centreShifts: [DailyWindow]) -> Int? {
        let windows = [voterHours, voterNever, organisationHours] + [campaignWindow, centreHours].compactMap { $0 } + centreShifts
        let edges = Set(windows.flatMap { [$0.from.seconds % 86_400, $0.to.seconds % 86_400] })
        let ahead = edges.map { edge in (edge - time.seconds + 86_400) % 86_400 }.filter { $0 > 0 }.sorted()
        return ahead.first { !allows(kind, at: ISTTime(seconds: time.seconds + $0), campaignWindow: campaignWindow,
                                     centreHours: centreHours, centreShifts: centreShifts) }
    }
}

extension CampaignKind {
    /// Voter campaigns are bound by the voter calling hours and the silence period; the rest
    /// are calls among the party's own people (organisation work), bound by their own hours.
    public var callsVoters: Bool {
        switch self {
        case .schemeFeedback, .weakBooth, .getOutTheVote: return true
        case .committeeReach, .relay, .candidates: return false
        }
    }
}
