import Foundation

/// One call offered to a centre's agents. Exchange `sampark.calls`, routing key
/// `call.offer.<centre>`; each centre's desks (or its telephony gateway) consume their own
/// queue, one offer at a time, and ack an offer once its outcome is published.
///
/// The dispatcher builds this body in SQL (docs/dispatch.md); `MessageContractTests` checks
/// that what it builds decodes as this type and validates against the schema.
/// Personal data: never logged. For agent desks (`preview` dialing) the phone is masked to
/// its last four digits; only a `gateway` campaign's offers carry the full number.
public struct CallOffer: SamparkMessage, Equatable {
    public static let messageType = "call.offer.v2"

    /// The attempt: the outcome names it, and the dispatcher counts it once.
    public var attemptID: Int64
    public var entryID: Int64
    public var listID: Int64
    public var centre: String
    public var campaign: String
    public var kind: CampaignKind
    public var dialing: Dialing
    public var contact: Contact
    /// The campaign's material for this entry, in the contact's language where it has one.
    public var material: Material?
    /// The entry's attempts so far (before this one), and the campaign's maximum.
    public var attempt: Int
    public var maxAttempts: Int
    /// After this no desk may start the call; the dispatcher reclaims the entry later.
    public var expiresAt: Date

    public enum Dialing: String, Codable, Sendable, CaseIterable {
        /// An agent's desk: the agent previews and places the call; the number is masked.
        case preview
        /// A telephony gateway (IVR, predictive): it needs the full number.
        case gateway
    }

    public struct Contact: Codable, Sendable, Equatable {
        public var name: String
        public var language: String?
        /// `+91******3210` for preview dialing, the full number for a gateway.
        public var phone: String
        public init(name: String, language: String?, phone: String) {
            self.name = name
            self.language = language
            self.phone = phone
        }
    }

    public struct Material: Codable, Sendable, Equatable {
        public var code: String
        public var version: Int
        public var script: String?
        public var questions: [MaterialPublished.Question]
        public init(code: String, version: Int, script: String?, questions: [MaterialPublished.Question]) {
            self.code = code
            self.version = version
            self.script = script
            self.questions = questions
        }
    }

    public init(attemptID: Int64, entryID: Int64, listID: Int64, centre: String, campaign: String, kind: CampaignKind,
                dialing: Dialing, contact: Contact, material: Material? = nil, attempt: Int, maxAttempts: Int, expiresAt: Date) {
        self.attemptID = attemptID
        self.entryID = entryID
        self.listID = listID
        self.centre = centre
        self.campaign = campaign
        self.kind = kind
        self.dialing = dialing
        self.contact = contact
        self.material = material
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.expiresAt = expiresAt
    }

    /// A number as an agent's desk sees it: the country code and the last four digits.
    public static func masked(_ phone: String) -> String {
        guard phone.count > 7 else { return String(repeating: "*", count: phone.count) }
        return String(phone.prefix(3)) + String(repeating: "*", count: phone.count - 7) + String(phone.suffix(4))
    }
}

/// How a call ended, as a desk reports it.
public enum Disposition: String, Codable, Sendable, CaseIterable {
    case connected
    case noAnswer = "no_answer"
    case busy
    case switchedOff = "switched_off"
    case notReachable = "not_reachable"
    /// The number is not the person's: never called again.
    case wrongNumber = "wrong_number"
    /// The person asked to be called at `callback_at`.
    case callBack = "call_back"
    /// Answered, and declined to talk.
    case refused
    case languageBarrier = "language_barrier"
    /// The person asked never to be called again: an opt-out from this moment.
    case optedOut = "opted_out"
}

/// What a desk reports after a call. Exchange `sampark.calls`, routing key `call.outcome`;
/// the dispatcher (the entry's next state, the next offer) and the feedback-aggregator (the
/// ledger, the aggregates) each take it on their own queue. Notes and answers are personal
/// data: stored, never logged.
public struct CallOutcome: SamparkMessage, WireNamedCodingKeys, Equatable {
    public static let messageType = "call.outcome.v2"

    enum CodingKeys: String, CodingKey {
        case attemptID = "attempt_id", entryID = "entry_id", centre, agent, disposition, callbackAt = "callback_at"
        case talkSeconds = "talk_seconds", answers, notes, issueTags = "issue_tags", schemeFeedback = "scheme_feedback"
        case turnout, scheme, verification, startedAt = "started_at", endedAt = "ended_at"
    }

    /// The offer this answers (its `attempt_id`).
    public var attemptID: Int64
    public var entryID: Int64
    public var centre: String
    public var agent: String
    public var disposition: Disposition
    /// For `call_back`: when the person asked to be called.
    public var callbackAt: Date?
    public var talkSeconds: Int?
    /// Survey answers by question id.
    public var answers: [String: String]?
    public var notes: String?
    public var issueTags: [String]?
    public var schemeFeedback: SchemeFeedback?
    /// For polling-day calls: what the person said about voting.
    public var turnout: Turnout?
    /// For beneficiary feedback: the scheme the feedback is about (default: the first of the
    /// contact's schemes that the list asked about).
    public var scheme: String?
    /// For calls to party workers: whether their role and unit on record are right, and what
    /// they say instead (recorded against the person for the district to confirm).
    public var verification: Verification?
    public var startedAt: Date
    public var endedAt: Date

    public struct Verification: Codable, Sendable, Equatable {
        public var roleConfirmed: Bool?
        public var unitConfirmed: Bool?
        public var corrections: Corrections?

        enum CodingKeys: String, CodingKey {
            case roleConfirmed = "role_confirmed", unitConfirmed = "unit_confirmed", corrections
        }

        public init(roleConfirmed: Bool? = nil, unitConfirmed: Bool? = nil, corrections: Corrections? = nil) {
            self.roleConfirmed = roleConfirmed
            self.unitConfirmed = unitConfirmed
            self.corrections = corrections
        }
    }

    /// What a worker says their record should be; `unit` is a unit's code.
    public struct Corrections: Codable, Sendable, Equatable {
        public var role: String?
        public var unit: String?
        public var name: String?
        public var responsibilities: String?

        public init(role: String? = nil, unit: String? = nil, name: String? = nil, responsibilities: String? = nil) {
            self.role = role
            self.unit = unit
            self.name = name
            self.responsibilities = responsibilities
        }
    }

    public enum SchemeFeedback: String, Codable, Sendable, CaseIterable {
        case received, notReceived = "not_received", partly
    }

    public enum Turnout: String, Codable, Sendable, CaseIterable {
        case voted, notYet = "not_yet", willVote = "will_vote"
    }

    public init(attemptID: Int64, entryID: Int64, centre: String, agent: String, disposition: Disposition, callbackAt: Date? = nil,
                talkSeconds: Int? = nil, answers: [String: String]? = nil, notes: String? = nil, issueTags: [String]? = nil,
                schemeFeedback: SchemeFeedback? = nil, turnout: Turnout? = nil, scheme: String? = nil,
                verification: Verification? = nil, startedAt: Date, endedAt: Date) {
        self.attemptID = attemptID
        self.entryID = entryID
        self.centre = centre
        self.agent = agent
        self.disposition = disposition
        self.callbackAt = callbackAt
        self.talkSeconds = talkSeconds
        self.answers = answers
        self.notes = notes
        self.issueTags = issueTags
        self.schemeFeedback = schemeFeedback
        self.turnout = turnout
        self.scheme = scheme
        self.verification = verification
        self.startedAt = startedAt
        self.endedAt = endedAt
    }
}

/// An agent logs in, pauses, resumes or logs out at a centre. Exchange `sampark.calls`,
/// routing key `agent.presence`; the dispatcher keeps each centre's offers at its available
/// agents times the campaign's pacing ratio.
public struct AgentPresence: SamparkMessage, Equatable {
    public static let messageType = "agent.presence.v1"

    public var centre: String
    public var agent: String
    public var state: State
    /// The shift the agent works (as the centre names it, `09:00-15:00`).
    public var shift: String?
    /// When it happened; an event older than the agent's last one is ignored.
    public var at: Date

    public enum State: String, Codable, Sendable, CaseIterable {
        case available, paused, loggedOut = "logged_out"
    }

    public init(centre: String, agent: String, state: State, shift: String? = nil, at: Date) {
        self.centre = centre
        self.agent = agent
        self.state = state
        self.shift = shift
        self.at = at
    }
}
