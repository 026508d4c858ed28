import Foundation

/// Asks the reporter for a report. Exchange `sampark.reports`, routing key `report.request`.
/// With `reply_to` set, the report is also sent there (request and reply).
public struct ReportRequest: SamparkMessage, Equatable {
    public static let messageType = "report.request.v2"

    public enum Kind: String, Codable, Sendable {
        /// The day's activity of a unit's subtree (a district, a state) or of the nation.
        case daily
        /// The war room's constituency dossier.
        case dossier
    }

    public var kind: Kind
    /// The day (IST), `YYYY-MM-DD`; default: today at the reporter.
    public var day: String?
    /// daily: the unit (its code) whose subtree the report covers; nil: the nation.
    public var scope: String?
    /// daily: every district's report, each state's and the nation's, as at the set time.
    public var all: Bool?
    /// dossier: the assembly constituency (its code).
    public var constituency: String?
    /// dossier: the past election (default: the latest with results in the constituency)
    /// and the party whose results are weighed (default: the reporter's setting).
    public var election: String?
    public var party: String?

    public init(kind: Kind = .daily, day: String? = nil, scope: String? = nil, all: Bool? = nil, constituency: String? = nil,
                election: String? = nil, party: String? = nil) {
        self.kind = kind
        self.day = day
        self.scope = scope
        self.all = all
        self.constituency = constituency
        self.election = election
        self.party = party
    }
}

/// Where a report belongs in the tree: the nation, a state or a unit within one.
public struct ReportScope: Codable, Sendable, Equatable {
    /// `national`, or the unit's level (`state`, `district`, ...).
    public var level: String
    /// The unit's code; `national` for the nation.
    public var code: String
    public var name: String
    /// The state's code (nil for the nation).
    public var state: String?

    public init(level: String, code: String, name: String, state: String?) {
        self.level = level
        self.code = code
        self.name = name
        self.state = state
    }
}

/// Committees (units of one level that have committee members) and how many of them have at
/// least two people reached on a call by the report's day.
public struct CommitteeCoverage: Codable, Sendable, Equatable {
    public var level: String
    public var committees: Int
    public var reachedTwo: Int

    public init(level: String, committees: Int, reachedTwo: Int) {
        self.level = level
        self.committees = committees
        self.reachedTwo = reachedTwo
    }
}

/// A day's activity for a district, a state (`.all`) or the nation. Exchange
/// `sampark.reports`, routing key `report.daily.<state>.<district>`,
/// `report.daily.<state>.all` or `report.daily.national`. `report_id` is one per scope and
/// day: a re-run publishes the same id with the report as it stands, so consumers dedupe or
/// replace on it.
public struct DailyReport: SamparkMessage, Equatable {
    public static let messageType = "report.daily.v2"

    public var reportID: String
    public var day: String
    public var scope: ReportScope
    public var generatedAt: Date
    /// Calls by campaign, by disposition.
    public var calls: [CampaignCalls]
    public var totals: Counts
    public var committees: [CommitteeCoverage]
    public var schemes: [SchemeFeedback]
    public var escalations: Escalations
    /// The most noted issue tags, most first (at most ten).
    public var issueTags: [TagCount]
    /// Polling-day turnout calls (campaigns of kind gotv).
    public var turnout: Turnout
    /// The centres serving the scope (a region of theirs lies in it or holds it), per shift.
    public var centres: [CentreShift]
    /// Calls the lawful-calling gates refused at the moment of dispatch, by reason, at the
    /// centres serving the scope.
    public var refusals: [Refusal]
    /// Party workers' corrections to their records waiting for the district to confirm.
    public var pendingCorrections: Int

    public struct Counts: Codable, Sendable, Equatable {
        public var attempts: Int
        public var connected: Int
        public var noAnswer: Int
        public var busy: Int
        public var switchedOff: Int
        public var notReachable: Int
        public var wrongNumber: Int
        public var callBack: Int
        public var refused: Int
        public var languageBarrier: Int
        public var optedOut: Int
        public var voted: Int

        public init(attempts: Int = 0, connected: Int = 0, noAnswer: Int = 0, busy: Int = 0, switchedOff: Int = 0,
                    notReachable: Int = 0, wrongNumber: Int = 0, callBack: Int = 0, refused: Int = 0, languageBarrier: Int = 0,
                    optedOut: Int = 0, voted: Int = 0) {
            self.attempts = attempts
            self.connected = connected
            self.noAnswer = noAnswer
            self.busy = busy
            self.switchedOff = switchedOff
            self.notReachable = notReachable
            self.wrongNumber = wrongNumber
            self.callBack = callBack
            self.refused = refused
            self.languageBarrier = languageBarrier
            self.optedOut = optedOut
            self.voted = voted
        }

        /// "Reached": the calls answered by the person (connected, refused, a language
        /// barrier, a callback asked for, an opt-out).
        public var reached: Int { connected + refused + languageBarrier + callBack + optedOut }

        public static func + (a: Counts, b: Counts) -> Counts {
            Counts(attempts: a.attempts + b.attempts, connected: a.connected + b.connected, noAnswer: a.noAnswer + b.noAnswer,
                   busy: a.busy + b.busy, switchedOff: a.switchedOff + b.switchedOff, notReachable: a.notReachable + b.notReachable,
                   wrongNumber: a.wrongNumber + b.wrongNumber, callBack: a.callBack + b.callBack, refused: a.refused + b.refused,
                   languageBarrier: a.languageBarrier + b.languageBarrier, optedOut: a.optedOut + b.optedOut, voted: a.voted + b.voted)
        }
    }

    public struct CampaignCalls: Codable, Sendable, Equatable {
        public var campaign: String
        public var kind: CampaignKind
        public var counts: Counts
        public init(campaign: String, kind: CampaignKind, counts: Counts) {
            self.campaign = campaign
            self.kind = kind
            self.counts = counts
        }
    }

    public struct SchemeFeedback: Codable, Sendable, Equatable {
        public var scheme: String
        public var received: Int
        public var notReceived: Int
        public var partly: Int
        public init(scheme: String, received: Int, notReceived: Int, partly: Int) {
            self.scheme = scheme
            self.received = received
            self.notReceived = notReceived
            self.partly = partly
        }
    }

    public struct Escalations: Codable, Sendable, Equatable {
        /// Raised on the day.
        public var raised: Int
        /// Open now, whenever raised.
        public var open: Int
        public init(raised: Int, open: Int) {
            self.raised = raised
            self.open = open
        }
    }

    public struct TagCount: Codable, Sendable, Equatable {
        public var tag: String
        public var calls: Int
        public init(tag: String, calls: Int) {
            self.tag = tag
            self.calls = calls
        }
    }

    public struct Turnout: Codable, Sendable, Equatable {
        public var calls: Int
        public var reached: Int
        public var voted: Int
        public var notYet: Int
        public var willVote: Int
        public init(calls: Int = 0, reached: Int = 0, voted: Int = 0, notYet: Int = 0, willVote: Int = 0) {
            self.calls = calls
            self.reached = reached
            self.voted = voted
            self.notYet = notYet
            self.willVote = willVote
        }
    }

    public struct CentreShift: Codable, Sendable, Equatable {
        public var centre: String
        public var shift: String
        public var attempts: Int
        public var connected: Int
        public var talkSeconds: Int
        public init(centre: String, shift: String, attempts: Int, connected: Int, talkSeconds: Int) {
            self.centre = centre
            self.shift = shift
            self.attempts = attempts
            self.connected = connected
            self.talkSeconds = talkSeconds
        }
    }

    public struct Refusal: Codable, Sendable, Equatable {
        public var reason: String
        public var calls: Int
        public init(reason: String, calls: Int) {
            self.reason = reason
            self.calls = calls
        }
    }

    public init(reportID: String, day: String, scope: ReportScope, generatedAt: Date, calls: [CampaignCalls], totals: Counts,
                committees: [CommitteeCoverage] = [], schemes: [SchemeFeedback] = [], escalations: Escalations = .init(raised: 0, open: 0),
                issueTags: [TagCount] = [], turnout: Turnout = .init(), centres: [CentreShift] = [], refusals: [Refusal] = [],
                pendingCorrections: Int = 0) {
        self.reportID = reportID
        self.day = day
        self.scope = scope
        self.generatedAt = generatedAt
        self.calls = calls
        self.totals = totals
        self.committees = committees
        self.schemes = schemes
        self.escalations = escalations
        self.issueTags = issueTags
        self.turnout = turnout
        self.centres = centres
        self.refusals = refusals
        self.pendingCorrections = pendingCorrections
    }

    /// The routing key a report of this scope is published with.
    public static func routingKey(for scope: ReportScope) -> String {
        guard let state = scope.state else { return "report.daily.national" }
        return scope.level == "state" ? "report.daily.\(state).all" : "report.daily.\(state).\(scope.code)"
    }

    /// One id per scope and day.
    public static func reportID(day: String, scope: ReportScope) -> String { "daily/\(day)/\(scope.code)" }
}

/// The war room's one-click dossier of an assembly constituency. Exchange `sampark.reports`,
/// routing key `report.dossier.<state>.<constituency>`, and the reply to a request.
public struct ConstituencyDossier: SamparkMessage, Equatable {
    public static let messageType = "report.dossier.v1"

    public var reportID: String
    public var day: String
    public var constituency: ReportScope
    /// The district it lies in (its code), if any.
    public var district: String?
    public var generatedAt: Date
    /// The past election weighed, and the party; nil if the constituency has no results.
    public var election: String?
    public var party: String
    public var counts: Counts
    /// Every booth's result in that election, by booth code.
    public var booths: [BoothResult]
    /// The booths where the party is weak (behind, or under the share), weakest first.
    public var weakBooths: [BoothResult]
    /// Office-bearers and workers in the constituency, by level and role (no phone numbers).
    public var people: [Person]
    public var committees: [CommitteeCoverage]

    public struct Counts: Codable, Sendable, Equatable {
        public var booths: Int
        public var voters: Int
        public var beneficiaries: Int
        public var people: Int
        public init(booths: Int, voters: Int, beneficiaries: Int, people: Int) {
            self.booths = booths
            self.voters = voters
            self.beneficiaries = beneficiaries
            self.people = people
        }
    }

    public struct BoothResult: Codable, Sendable, Equatable {
        public var booth: String
        public var name: String
        public var electors: Int?
        public var polled: Int
        public var votes: Int
        /// The best other party and its votes.
        public var rival: String?
        public var rivalVotes: Int
        /// votes − rival_votes.
        public var margin: Int
        /// votes / polled.
        public var share: Double
        public init(booth: String, name: String, electors: Int?, polled: Int, votes: Int, rival: String?, rivalVotes: Int, margin: Int,
                    share: Double) {
            self.booth = booth
            self.name = name
            self.electors = electors
            self.polled = polled
            self.votes = votes
            self.rival = rival
            self.rivalVotes = rivalVotes
            self.margin = margin
            self.share = share
        }
    }

    public struct Person: Codable, Sendable, Equatable {
        public var name: String
        public var role: String
        public var unit: String
        public var level: String
        public var committee: String?
        public var responsibilities: String?
        public init(name: String, role: String, unit: String, level: String, committee: String?, responsibilities: String?) {
            self.name = name
            self.role = role
            self.unit = unit
            self.level = level
            self.committee = committee
            self.responsibilities = responsibilities
        }
    }

    public init(reportID: String, day: String, constituency: ReportScope, district: String?, generatedAt: Date, election: String?,
                party: String, counts: Counts, booths: [BoothResult], weakBooths: [BoothResult], people: [Person],
                committees: [CommitteeCoverage]) {
        self.reportID = reportID
        self.day = day
        self.constituency = constituency
        self.district = district
        self.generatedAt = generatedAt
        self.election = election
        self.party = party
        self.counts = counts
        self.booths = booths
        self.weakBooths = weakBooths
        self.people = people
        self.committees = committees
    }
}

/// A beneficiary said the benefit did not reach them: an escalation for their district to
/// follow up. Exchange `sampark.reports`, routing key `escalation.<state>.<district>`.
/// Published by the feedback-aggregator (built in SQL, in the transaction that records the
/// call). The number is masked: the district's follow-up team looks the contact up by id.
public struct EscalationRaised: SamparkMessage, Equatable {
    public static let messageType = "escalation.raised.v1"

    public var escalationID: Int64
    public var attemptID: Int64
    public var day: String
    public var state: String
    public var district: String?
    /// The contact's booth (its code).
    public var unit: String
    public var campaign: String
    public var scheme: String?
    public var contactID: Int64?
    public var name: String?
    public var phone: String?
    public var raisedAt: Date

    public init(escalationID: Int64, attemptID: Int64, day: String, state: String, district: String?, unit: String, campaign: String,
                scheme: String?, contactID: Int64?, name: String?, phone: String?, raisedAt: Date) {
        self.escalationID = escalationID
        self.attemptID = attemptID
        self.day = day
        self.state = state
        self.district = district
        self.unit = unit
        self.campaign = campaign
        self.scheme = scheme
        self.contactID = contactID
        self.name = name
        self.phone = phone
        self.raisedAt = raisedAt
    }
}

/// The reply to a request for every daily report of a day (`all`): the ids published.
public struct ReportsPublished: SamparkMessage, Equatable {
    public static let messageType = "report.published.v1"

    public var day: String
    public var reports: [String]

    public init(day: String, reports: [String]) {
        self.day = day
        self.reports = reports
    }
}
