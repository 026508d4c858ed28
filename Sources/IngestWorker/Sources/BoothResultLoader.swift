import SamparkCore
import SamparkPostgres

/// `booth_results`: election, booth_code, party, votes, and optionally electors and turnout
/// (votes polled in the booth). One row per (booth, election, party); a reload updates it.
struct BoothResultLoader: SourceLoader {
    let source = IngestSource.boothResults
    let stagedColumns: [(name: String, type: String)] = [
        ("election", "text"), ("booth_code", "text"), ("party", "text"), ("votes", "integer"), ("electors", "integer"), ("turnout", "integer"),
    ]
    let workColumns: [(name: String, type: String)] = [("booth_id", "bigint")]

    func validate(_ fields: Fields) throws(RowRejection) -> [String?] {
        let election = try fields.required("election"), booth = try fields.required("booth_code"), party = try fields.required("party")
        let votes = try fields.requiredInteger("votes", in: 0...10_000_000)
        let electors = try fields.integer("electors", in: 0...10_000_000)
        let turnout = try fields.integer("turnout", in: 0...10_000_000)
        if let turnout, votes > turnout { throw RowRejection("votes", "is more than the turnout") }
        if let electors, votes > electors { throw RowRejection("votes", "is more than the electors") }
        if let turnout, let electors, turnout > electors { throw RowRejection("turnout", "is more than the electors") }
        return [election, booth, party, String(votes), electors.map(String.init), turnout.map(String.init)]
    }

    func merge(_ stage: Stage) throws {
        try stage.run("UPDATE {stage} s SET booth_id = u.id FROM org_units u WHERE s.outcome IS NULL AND u.code = s.booth_code")
        try stage.reject(where: "s.booth_id IS NULL", field: "booth_code", reason: "'no unit has ' || \(Stage.named("s.booth_code"))")
        try stage.dedupe(key: "(s.booth_id, s.election, s.party)", compared: ["votes", "electors", "turnout"],
                         duplicates: .supersededUnlessIdentical(field: "party", what: "booth, election and party"))
        try stage.upsert(into: "booth_results", columns: ["booth_id", "election", "party", "votes", "electors", "turnout"],
                         key: ["booth_id", "election", "party"], updating: ["votes", "electors", "turnout"])
    }
}
