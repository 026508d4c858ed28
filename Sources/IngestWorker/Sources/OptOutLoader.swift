import SamparkCore
import SamparkPostgres
import SamparkPrivacy

/// `opt_outs`: phone, and optionally source and time (when the person asked; the load's time
/// if absent). From the moment it is stored, no campaign calls the number. A number asking
/// twice is one opt-out, dated by the earliest request. Only the number's keyed hash is kept:
/// an opt-out is matched, never called.
struct OptOutLoader: SourceLoader {
    let source = IngestSource.optOuts
    let vault: PhoneVault
    let stagedColumns: [(name: String, type: String)] = [("phone_hash", "bytea"), ("source", "text"), ("requested_at", "timestamptz")]

    func validate(_ fields: Fields) throws(RowRejection) -> [String?] {
        [PhoneVault.hex(vault.hash(try fields.phone("phone").number)), try fields.optional("source") ?? "file",
         try fields.timestamp("time")]
    }

    func merge(_ stage: Stage) throws {
        try stage.run("UPDATE {stage} s SET requested_at = now() WHERE s.outcome IS NULL AND s.requested_at IS NULL")
        try stage.dedupe(key: "s.phone_hash", keep: "s.requested_at, s.line", duplicates: .unchanged)
        // The earliest request is the one kept.
        try stage.upsert(into: "opt_outs", columns: ["phone_hash", "source", "requested_at"], key: ["phone_hash"],
                         updating: ["source", "requested_at"], when: "EXCLUDED.requested_at < t.requested_at")
    }
}
