import Foundation

/// What a campaign's calls are for (DOMAIN.md, "What a call is for").
public enum CampaignKind: String, Codable, Sendable, CaseIterable {
    /// Relay a programme or campaign material down the tree.
    case relay
    /// Collect feedback from scheme beneficiaries.
    case schemeFeedback = "scheme_feedback"
    /// Reach every committee (two people each).
    case committeeReach = "committee_reach"
    /// Work the booths where the party is weak.
    case weakBooth = "weak_booth"
    /// Polling day: "have you voted?".
    case getOutTheVote = "gotv"
}

/// Asks the list-builder for a campaign's call list. Exchange `sampark.lists`, routing key
/// `list.build`; `reply_to`/`correlation_id` when the requester wants `list.ready` back.
public struct ListBuildRequest: SamparkMessage, Equatable {
    public static let messageType = "list.build.v1"

    public var campaignName: String
    public var kind: CampaignKind
    /// The org unit whose subtree the campaign covers (its code).
    public var scope: String
    /// Material (by code) the callers relay, if any.
    public var material: String?

    public init(campaignName: String, kind: CampaignKind, scope: String, material: String? = nil) {
        self.campaignName = campaignName
        self.kind = kind
        self.scope = scope
        self.material = material
    }
}

/// A call list was built and stored. Exchange `sampark.lists`, routing key `list.ready`.
public struct ListReady: SamparkMessage, Equatable {
    public static let messageType = "list.ready.v1"

    public var listID: Int64
    public var campaignID: Int64
    public var kind: CampaignKind
    public var entries: Int
    /// Entries left out, by reason (`opted_out`, `duplicate`, `no_centre`).
    public var suppressed: [Count]
    /// Entries per call centre (by code).
    public var centres: [Count]

    /// A named count. (A list of these rather than a dictionary: keys of JSON objects would go
    /// through the snake_case key conversion.)
    public struct Count: Codable, Sendable, Equatable {
        public var name: String
        public var count: Int
        public init(_ name: String, _ count: Int) {
            self.name = name
            self.count = count
        }
    }

    public init(listID: Int64, campaignID: Int64, kind: CampaignKind, entries: Int,
                suppressed: [Count], centres: [Count]) {
        self.listID = listID
        self.campaignID = campaignID
        self.kind = kind
        self.entries = entries
        self.suppressed = suppressed
        self.centres = centres
    }
}
