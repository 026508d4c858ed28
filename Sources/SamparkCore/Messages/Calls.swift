import Foundation

/// One call offered to a centre's agents. Exchange `sampark.calls`, routing key
/// `call.offer.<centre>`; each centre's desk consumes its own queue. The phone number is here
/// because the agent must dial it: this message is personal data and is never logged.
public struct CallOffer: SamparkMessage, Equatable {
    public static let messageType = "call.offer.v1"

    public var entryID: Int64
    public var listID: Int64
    public var centre: String
    public var kind: CampaignKind
    public var phone: String
    public var name: String
    public var language: String?
    /// What to say: the material's script, if the campaign has one.
    public var script: String?
    /// After this the offer is stale: the dispatcher offers the entry again if it is still due.
    public var expiresAt: Date

    public init(entryID: Int64, listID: Int64, centre: String, kind: CampaignKind, phone: String, name: String,
                language: String? = nil, script: String? = nil, expiresAt: Date) {
        self.entryID = entryID
        self.listID = listID
        self.centre = centre
        self.kind = kind
        self.phone = phone
        self.name = name
        self.language = language
        self.script = script
        self.expiresAt = expiresAt
    }
}

/// How a call ended.
public enum CallResult: String, Codable, Sendable, CaseIterable {
    case connected
    case noAnswer = "no_answer"
    case busy
    case wrongNumber = "wrong_number"
    /// The person asked never to be called again: an opt-out from this moment.
    case optedOut = "opted_out"
}

/// What an agent reports after a call. Exchange `sampark.calls`, routing key `call.outcome`.
/// Feedback is personal data: stored, never logged.
public struct CallOutcome: SamparkMessage, Equatable {
    public static let messageType = "call.outcome.v1"

    public var entryID: Int64
    public var centre: String
    public var agent: String
    public var result: CallResult
    /// For `gotv`: whether the person says they have voted.
    public var hasVoted: Bool?
    /// Free-text or structured feedback the agent recorded.
    public var feedback: String?
    public var startedAt: Date
    public var endedAt: Date

    public init(entryID: Int64, centre: String, agent: String, result: CallResult, hasVoted: Bool? = nil,
                feedback: String? = nil, startedAt: Date, endedAt: Date) {
        self.entryID = entryID
        self.centre = centre
        self.agent = agent
        self.result = result
        self.hasVoted = hasVoted
        self.feedback = feedback
        self.startedAt = startedAt
        self.endedAt = endedAt
    }
}
