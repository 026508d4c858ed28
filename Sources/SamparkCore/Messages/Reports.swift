import Foundation

/// Asks the reporter for a daily report. Exchange `sampark.reports`, routing key
/// `report.request`.
public struct ReportRequest: SamparkMessage, Equatable {
    public static let messageType = "report.request.v1"

    /// The day (IST), `YYYY-MM-DD`.
    public var day: String
    /// The org unit whose subtree the report covers (its code); nil: the whole tree.
    public var scope: String?

    public init(day: String, scope: String? = nil) {
        self.day = day
        self.scope = scope
    }
}

/// A day's calling activity, per centre and campaign kind, with totals. Exchange
/// `sampark.reports`, routing key `report.daily.<scope>`; state IT teams bind their own
/// queues by routing key.
public struct DailyReport: SamparkMessage, Equatable {
    public static let messageType = "report.daily.v1"

    public var day: String
    public var scope: String
    public var generatedAt: Date
    public var rows: [Row]
    public var totals: Counts
    /// Calls the lawful-calling gates refused at the moment of dispatch, by reason
    /// (docs/dispatch.md), for the centres in scope.
    public var refusals: [Refusal]

    public struct Refusal: Codable, Sendable, Equatable {
        public var reason: String
        public var calls: Int
        public init(reason: String, calls: Int) {
            self.reason = reason
            self.calls = calls
        }
    }

    public struct Counts: Codable, Sendable, Equatable {
        public var attempts: Int
        public var connected: Int
        public var noAnswer: Int
        public var busy: Int
        public var wrongNumber: Int
        public var optedOut: Int
        public var voted: Int
        public var switchedOff: Int
        public var notReachable: Int
        public var callBack: Int
        public var refused: Int
        public var languageBarrier: Int

        public init(attempts: Int = 0, connected: Int = 0, noAnswer: Int = 0, busy: Int = 0,
                    wrongNumber: Int = 0, optedOut: Int = 0, voted: Int = 0, switchedOff: Int = 0, notReachable: Int = 0,
                    callBack: Int = 0, refused: Int = 0, languageBarrier: Int = 0) {
            self.attempts = attempts
            self.connected = connected
            self.noAnswer = noAnswer
            self.busy = busy
            self.wrongNumber = wrongNumber
            self.optedOut = optedOut
            self.voted = voted
            self.switchedOff = switchedOff
            self.notReachable = notReachable
            self.callBack = callBack
            self.refused = refused
            self.languageBarrier = languageBarrier
        }

        public static func + (a: Counts, b: Counts) -> Counts {
            Counts(attempts: a.attempts + b.attempts, connected: a.connected + b.connected, noAnswer: a.noAnswer + b.noAnswer,
                   busy: a.busy + b.busy, wrongNumber: a.wrongNumber + b.wrongNumber, optedOut: a.optedOut + b.optedOut,
                   voted: a.voted + b.voted, switchedOff: a.switchedOff + b.switchedOff, notReachable: a.notReachable + b.notReachable,
                   callBack: a.callBack + b.callBack, refused: a.refused + b.refused, languageBarrier: a.languageBarrier + b.languageBarrier)
        }
    }

    public struct Row: Codable, Sendable, Equatable {
        public var centre: String
        public var kind: CampaignKind
        public var counts: Counts
        public init(centre: String, kind: CampaignKind, counts: Counts) {
            self.centre = centre
            self.kind = kind
            self.counts = counts
        }
    }

    public init(day: String, scope: String, generatedAt: Date, rows: [Row], totals: Counts, refusals: [Refusal] = []) {
        self.day = day
        self.scope = scope
        self.generatedAt = generatedAt
        self.rows = rows
        self.totals = totals
        self.refusals = refusals
    }
}
