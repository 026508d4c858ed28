import Foundation
import SamparkCore
import SamparkPostgres
import SamparkRuntime

/// A list request checked for shape, with each kind's defaults filled in. What needs the
/// database (does the unit, level, scheme, election exist?) is checked by `ListBuildHandler`
/// before anything is written. Every failure names the field, as requesters write it, and
/// never quotes a value that could be personal.
struct ListSpec: Equatable {
    var kind: CampaignKind
    var scope: String
    /// Levels, lower-cased (org_units stores them so).
    var levels: [String] = []
    /// nil: every role.
    var roles: [String]?
    var perCommittee: Int?
    var schemes: [String] = []
    var election: String?
    var party: String?
    var shareBelow: Double?
    var pollDate: String?
    var units: [String] = []

    /// The levels a relay reaches when the request names none (DOMAIN.md: programmes go down
    /// to the mandal, shakti kendra and booth levels).
    static let relayLevels = ["mandal", "shakti_kendra", "booth"]

    static func check(_ request: ListBuildRequest) throws -> ListSpec {
        try checkCode(request.requestID, field: "request_id", maximum: 200)
        try checkCode(request.campaign.code, field: "campaign.code", maximum: 100)
        if let name = request.campaign.name, name.trimmingCharacters(in: .whitespaces).isEmpty || name.count > 300 {
            throw fail("campaign.name", "is empty or longer than 300 characters")
        }
        if let days = request.campaign.recallDays, !(0...365).contains(days) {
            throw fail("campaign.recall_days", "is not a whole number from 0 to 365")
        }
        if let cap = request.campaign.householdCap, !(1...20).contains(cap) {
            throw fail("campaign.household_cap", "is not a whole number from 1 to 20")
        }
        if let material = request.campaign.material { try checkCode(material, field: "campaign.material", maximum: 100) }
        if let ratio = request.campaign.pacingRatio, !(1...20).contains(ratio) {
            throw fail("campaign.pacing_ratio", "is not a number from 1 to 20")
        }
        if let attempts = request.campaign.maxAttempts, !(1...20).contains(attempts) {
            throw fail("campaign.max_attempts", "is not a whole number from 1 to 20")
        }
        if let hours = request.campaign.callingHours, Campaign.window(hours) == nil {
            throw fail("campaign.calling_hours", "is not IST hours HH:MM-HH:MM with the start before the end, such as 10:00-18:00")
        }
        if let dialing = request.campaign.dialing, !["preview", "gateway"].contains(dialing) {
            throw fail("campaign.dialing", "is neither preview nor gateway")
        }

        let audience = request.audience
        let kind = request.kind
        try checkCode(audience.scope, field: "audience.scope", maximum: 100)
        var spec = ListSpec(kind: kind, scope: audience.scope)

        // Which audience fields each kind reads; any other one given is refused.
        let uses: Set<String>
        switch kind {
        case .committeeReach: uses = ["levels", "roles", "per_committee"]
        case .relay: uses = ["levels", "roles"]
        case .schemeFeedback: uses = ["schemes"]
        case .weakBooth: uses = ["election", "party", "share_below"]
        case .getOutTheVote: uses = ["poll_date", "election"]
        case .candidates: uses = ["roles", "units"]
        }
        let given: [(String, Bool)] = [
            ("levels", audience.levels != nil), ("roles", audience.roles != nil), ("per_committee", audience.perCommittee != nil),
            ("schemes", audience.schemes != nil), ("election", audience.election != nil), ("party", audience.party != nil),
            ("share_below", audience.shareBelow != nil), ("poll_date", audience.pollDate != nil), ("units", audience.units != nil),
        ]
        if let stray = given.first(where: { $0.1 && !uses.contains($0.0) }) {
            throw fail("audience.\(stray.0)", "is not used by \(kind.rawValue) lists (they use: \(uses.sorted().joined(separator: ", ")))")
        }

        switch kind {
        case .committeeReach:
            spec.levels = try list(audience.levels, field: "audience.levels", required: true).map { $0.lowercased() }
            spec.roles = try audience.roles.map { try list($0, field: "audience.roles", required: true) }
            if let per = audience.perCommittee {
                guard (2...50).contains(per) else {
                    throw fail("audience.per_committee", "is not a whole number from 2 to 50 (every committee keeps at least two contacts)")
                }
                spec.perCommittee = per
            }
        case .relay:
            spec.levels = try audience.levels.map { try list($0, field: "audience.levels", required: true).map { $0.lowercased() } }
                ?? relayLevels
            spec.roles = try audience.roles.map { try list($0, field: "audience.roles", required: true) }
        case .schemeFeedback:
            spec.schemes = try list(audience.schemes, field: "audience.schemes", required: true)
        case .weakBooth:
            spec.election = try text(audience.election, field: "audience.election")
            spec.party = try text(audience.party, field: "audience.party")
            if let share = audience.shareBelow {
                guard share > 0, share <= 1 else { throw fail("audience.share_below", "is not a share above 0 and at most 1 (0.4 is 40%)") }
                spec.shareBelow = share
            }
        case .getOutTheVote:
            let date = try text(audience.pollDate, field: "audience.poll_date")
            guard isDate(date) else { throw fail("audience.poll_date", "is not a date YYYY-MM-DD that exists") }
            spec.pollDate = date
            spec.election = try audience.election.map { try text($0, field: "audience.election") }
        case .candidates:
            spec.roles = try audience.roles.map { try list($0, field: "audience.roles", required: true) } ?? ["candidate"]
            spec.units = try audience.units.map { try list($0, field: "audience.units", required: true) } ?? []
        }
        return spec
    }

    /// Codes and ids: printable, no spaces at the ends, bounded.
    static func checkCode(_ value: String, field: String, maximum: Int) throws {
        guard !value.isEmpty, value.count <= maximum, value.trimmingCharacters(in: .whitespaces) == value,
              value.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
            throw fail(field, "is empty, longer than \(maximum) characters, or has spaces at its ends or control characters")
        }
    }

    static func text(_ value: String?, field: String) throws -> String {
        guard let value else { throw fail(field, "is missing") }
        try checkCode(value, field: field, maximum: 100)
        return value
    }

    static func list(_ values: [String]?, field: String, required: Bool) throws -> [String] {
        guard let values, !values.isEmpty else {
            if required { throw fail(field, "is missing or empty") }
            return []
        }
        guard values.count <= 1000 else { throw fail(field, "has more than 1000 items") }
        for (index, value) in values.enumerated() { try checkCode(value, field: "\(field)[\(index)]", maximum: 100) }
        return values
    }

    /// `YYYY-MM-DD`, a day that exists (the reporter's check: PostgreSQL's own date parser).
    static func isDate(_ text: String) -> Bool {
        text.utf8.count == 10 && PostgresDate(text) != nil
    }
}
