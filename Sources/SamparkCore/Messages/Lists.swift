import Foundation

/// What a campaign's calls are for (DOMAIN.md, "What a call is for"). docs/lists.md says which
/// audience each kind calls and what its request holds.
public enum CampaignKind: String, Codable, Sendable, CaseIterable {
    /// Organisation outreach: people at chosen levels and roles; with `per_committee`, that
    /// many people of every committee (unit), those not yet reached first.
    case committeeReach = "committee_reach"
    /// Relay a programme or campaign material down the tree (mandal, shakti kendra, booth).
    case relay
    /// Collect feedback from scheme beneficiaries.
    case schemeFeedback = "scheme_feedback"
    /// Work the booths where the party is weak.
    case weakBooth = "weak_booth"
    /// Polling day: "have you voted?".
    case getOutTheVote = "gotv"
    /// Messages to candidates.
    case candidates
}

/// Asks the list-builder for a campaign's call list. Exchange `sampark.lists`, routing key
/// `list.build`; `reply_to`/`correlation_id` when the requester wants the answer back
/// (`list.ready.v2`, or `request.rejected.v1` naming what is wrong).
public struct ListBuildRequest: SamparkMessage, Equatable {
    public static let messageType = "list.build.v2"

    /// Chosen by the requester: the same id again gets the list already built (and no new
    /// one), so a request can be repeated safely.
    public var requestID: String
    public var kind: CampaignKind
    public var campaign: Campaign
    public var audience: Audience

    /// The campaign the list belongs to, by its code. The first request for a code creates
    /// it (`name` required); later ones may name only the code, and what else they give must
    /// match what is stored.
    public struct Campaign: Codable, Sendable, Equatable {
        public var code: String
        public var name: String?
        /// A number any campaign called within this many days is left out (0: no such rule).
        public var recallDays: Int?
        /// At most this many calls to one phone per list (household members share phones).
        public var householdCap: Int?
        /// Material (by code) the callers relay; required for `relay`.
        public var material: String?
        /// Live offers per available agent (1: agent desks; more for a telephony gateway).
        public var pacingRatio: Double?
        /// Calls an entry may take (default 3).
        public var maxAttempts: Int?
        /// IST hours (`HH:MM-HH:MM`) narrowing the lawful calling window.
        public var callingHours: String?
        /// `preview` (agents' desks; the number masked) or `gateway` (the full number).
        public var dialing: String?

        public init(code: String, name: String? = nil, recallDays: Int? = nil, householdCap: Int? = nil, material: String? = nil,
                    pacingRatio: Double? = nil, maxAttempts: Int? = nil, callingHours: String? = nil, dialing: String? = nil) {
            self.code = code
            self.name = name
            self.recallDays = recallDays
            self.householdCap = householdCap
            self.material = material
            self.pacingRatio = pacingRatio
            self.maxAttempts = maxAttempts
            self.callingHours = callingHours
            self.dialing = dialing
        }
    }

    /// Whom to call. `scope` always; the other fields by kind (docs/lists.md). A field the
    /// kind does not use, or one no kind knows, is refused rather than ignored: a typo in a
    /// spec must not quietly widen a list.
    public struct Audience: Codable, Sendable, Equatable {
        /// The org unit (code) whose subtree the list covers.
        public var scope: String
        /// committee_reach, relay: the levels of the units whose people are called.
        public var levels: [String]?
        /// committee_reach, relay, candidates: the roles called (absent: every role; for
        /// candidates, `candidate`).
        public var roles: [String]?
        /// committee_reach: call this many people (at least 2) of every committee.
        public var perCommittee: Int?
        /// scheme_feedback: beneficiaries of any of these schemes.
        public var schemes: [String]?
        /// weak_booth: the past election and the party whose share is measured.
        public var election: String?
        public var party: String?
        /// weak_booth: booths where the party's share of the votes is under this (0 to 1); a
        /// booth it lost (negative margin) is weak whatever its share.
        public var shareBelow: Double?
        /// gotv: the polling day (IST, `YYYY-MM-DD`).
        public var pollDate: String?
        /// candidates: only the candidates of these units (codes).
        public var units: [String]?

        public init(scope: String, levels: [String]? = nil, roles: [String]? = nil, perCommittee: Int? = nil,
                    schemes: [String]? = nil, election: String? = nil, party: String? = nil, shareBelow: Double? = nil,
                    pollDate: String? = nil, units: [String]? = nil) {
            self.scope = scope
            self.levels = levels
            self.roles = roles
            self.perCommittee = perCommittee
            self.schemes = schemes
            self.election = election
            self.party = party
            self.shareBelow = shareBelow
            self.pollDate = pollDate
            self.units = units
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case scope, levels, roles, perCommittee, schemes, election, party, shareBelow, pollDate, units
        }

        /// Like the synthesised decoder, but a key it does not know is an error naming it.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: AnyKey.self)
            let known = Set(CodingKeys.allCases.map(\.stringValue))
            if let unknown = container.allKeys.first(where: { !known.contains($0.stringValue) }) {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [unknown],
                                                        debugDescription: "is not a field of an audience"))
            }
            let keyed = try decoder.container(keyedBy: CodingKeys.self)
            scope = try keyed.decode(String.self, forKey: .scope)
            levels = try keyed.decodeIfPresent([String].self, forKey: .levels)
            roles = try keyed.decodeIfPresent([String].self, forKey: .roles)
            perCommittee = try keyed.decodeIfPresent(Int.self, forKey: .perCommittee)
            schemes = try keyed.decodeIfPresent([String].self, forKey: .schemes)
            election = try keyed.decodeIfPresent(String.self, forKey: .election)
            party = try keyed.decodeIfPresent(String.self, forKey: .party)
            shareBelow = try keyed.decodeIfPresent(Double.self, forKey: .shareBelow)
            pollDate = try keyed.decodeIfPresent(String.self, forKey: .pollDate)
            units = try keyed.decodeIfPresent([String].self, forKey: .units)
        }

        struct AnyKey: CodingKey {
            let stringValue: String
            var intValue: Int? { nil }
            init?(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
    }

    public init(requestID: String, kind: CampaignKind, campaign: Campaign, audience: Audience) {
        self.requestID = requestID
        self.kind = kind
        self.campaign = campaign
        self.audience = audience
    }
}

/// A call list was built and stored. Exchange `sampark.lists`, routing key `list.ready`, and
/// the request's `reply_to`.
///
/// `audience` = `entries` + the sum of `suppressed`: every contact or person the spec chose is
/// either on the list or counted under the first reason that kept it off.
public struct ListReady: SamparkMessage, Equatable {
    public static let messageType = "list.ready.v2"

    public var requestID: String
    public var listID: Int64
    public var campaignID: Int64
    public var campaign: String
    public var kind: CampaignKind
    /// Contacts or people the audience spec chose, before suppression.
    public var audience: Int
    public var entries: Int
    /// Left out, by reason, in the order the rules apply: `landline`, `opted_out`,
    /// `wrong_number`, `recently_called`, `on_active_list`, `outside_material_scope`,
    /// `household_cap`, `over_committee_quota`, `no_centre`. Reasons with none are not listed.
    public var suppressed: [Count]
    /// Entries per call centre (by code).
    public var centres: [Count]
    /// Entries no centre's region covers, by unit (code; at most 100 units, the most first).
    public var uncovered: [Count]
    /// committee_reach with `per_committee`: committees (unit codes) with fewer callable
    /// people than asked, and how many they have (at most 100, the fewest first).
    public var shortCommittees: [Count]?
    /// How many committees fall short in all.
    public var shortCommitteesTotal: Int?
    /// 16 hex digits: the XOR of one 64-bit hash per entry (who, centre, priority, material
    /// version). The same request over the same data gives the same hash.
    public var hash: String

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

    public init(requestID: String, listID: Int64, campaignID: Int64, campaign: String, kind: CampaignKind, audience: Int,
                entries: Int, suppressed: [Count], centres: [Count], uncovered: [Count] = [],
                shortCommittees: [Count]? = nil, shortCommitteesTotal: Int? = nil, hash: String) {
        self.requestID = requestID
        self.listID = listID
        self.campaignID = campaignID
        self.campaign = campaign
        self.kind = kind
        self.audience = audience
        self.entries = entries
        self.suppressed = suppressed
        self.centres = centres
        self.uncovered = uncovered
        self.shortCommittees = shortCommittees
        self.shortCommitteesTotal = shortCommitteesTotal
        self.hash = hash
    }
}

/// The answer to a request that was refused: sent to its `reply_to` (with its
/// `correlation_id`) when the message is dead-lettered, whatever its type. `reason` is the
/// dead letter's reason: it names the field and what is wrong, never a personal value.
public struct RequestRejected: SamparkMessage, Equatable {
    public static let messageType = "request.rejected.v1"

    /// The type of the refused message (`list.build.v2`).
    public var requestType: String
    public var reason: String

    public init(requestType: String, reason: String) {
        self.requestType = requestType
        self.reason = reason
    }
}
