import SamparkCore
import SamparkPostgres
import SamparkPrivacy

/// `people`: name, phones (`;`-separated, the first the main one), role, unit_code, committee,
/// responsibilities. A person is one row per (unit, main phone, name): family members sharing a
/// phone stay distinct people, and a reload updates role, committee and responsibilities.
/// Numbers are stored as their hashes, sealed and the main one's last digits (``PhoneVault``).
struct PeopleLoader: SourceLoader {
    let source = IngestSource.people
    let vault: PhoneVault
    let stagedColumns: [(name: String, type: String)] = [
        ("name", "text"), ("phone_hash", "bytea"), ("phone_sealed", "bytea"), ("phone_tail", "text"), ("phone_kind", "text"),
        ("other_phones_sealed", "bytea[]"), ("other_phone_hashes", "bytea[]"), ("role", "text"),
        ("unit_code", "text"), ("committee", "text"), ("responsibilities", "text"),
    ]
    let workColumns: [(name: String, type: String)] = [("unit_id", "bigint")]

    func validate(_ fields: Fields) throws(RowRejection) -> [String?] {
        let name = try fields.required("name")
        let written = try fields.list("phones")
        guard !written.isEmpty else { throw RowRejection("phones", "is empty") }
        var phones: [(number: String, kind: PhoneNumber.Kind)] = []
        for (index, text) in written.enumerated() {
            guard let phone = PhoneNumber.parse(text) else {
                throw RowRejection("phones", "number \(index + 1) of \(written.count) is not an Indian phone number (+91 and 10 digits)")
            }
            if !phones.contains(where: { $0.number == phone.number }) { phones.append(phone) }
        }
        let main = vault.stored(phones[0].number), others = phones.dropFirst().map(\.number)
        return [name, main.hash, main.sealed, main.tail, phones[0].kind.rawValue,
                CopyText.array(others.map { PhoneVault.hex(vault.seal($0)) }), CopyText.array(others.map { PhoneVault.hex(vault.hash($0)) }),
                try fields.required("role"), try fields.required("unit_code"), try fields.optional("committee"),
                try fields.optional("responsibilities", maximum: 4000)]
    }

    func merge(_ stage: Stage) throws {
        try stage.run("UPDATE {stage} s SET unit_id = u.id FROM org_units u WHERE s.outcome IS NULL AND u.code = s.unit_code")
        try stage.reject(where: "s.unit_id IS NULL", field: "unit_code", reason: "'no unit has ' || \(Stage.named("s.unit_code"))")
        // Compared without the sealed values: each sealing differs, the hashes tell the numbers.
        let compared = ["phone_kind", "other_phone_hashes", "role", "committee", "responsibilities"]
        try stage.dedupe(key: "(s.unit_id, s.phone_hash, s.name)", compared: compared,
                         duplicates: .supersededUnlessIdentical(field: "name", what: "person (unit, main phone and name)"))
        try stage.upsert(into: "people", columns: ["name", "phone_hash", "phone_sealed", "phone_tail", "phone_kind", "other_phones_sealed",
                                                   "other_phone_hashes", "role", "unit_id", "committee", "responsibilities"],
                         key: ["unit_id", "phone_hash", "name"],
                         updating: ["phone_kind", "other_phones_sealed", "other_phone_hashes", "role", "committee", "responsibilities"],
                         also: "updated_at = now()",
                         when: "(\(compared.map { "t.\($0)" }.joined(separator: ", "))) IS DISTINCT FROM (\(compared.map { "EXCLUDED.\($0)" }.joined(separator: ", ")))")
    }
}
