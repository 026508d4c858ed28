import SamparkCore
import SamparkPostgres

/// `people`: name, phones (`;`-separated, the first the main one), role, unit_code, committee,
/// responsibilities. A person is one row per (unit, main phone, name): family members sharing a
/// phone stay distinct people, and a reload updates role, committee and responsibilities.
struct PeopleLoader: SourceLoader {
    let source = IngestSource.people
    let stagedColumns: [(name: String, type: String)] = [
        ("name", "text"), ("phone", "text"), ("phone_kind", "text"), ("other_phones", "text[]"), ("role", "text"),
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
        return [name, phones[0].number, phones[0].kind.rawValue, CopyText.array(phones.dropFirst().map(\.number)),
                try fields.required("role"), try fields.required("unit_code"), try fields.optional("committee"),
                try fields.optional("responsibilities", maximum: 4000)]
    }

    func merge(_ stage: Stage) throws {
        try stage.run("UPDATE {stage} s SET unit_id = u.id FROM org_units u WHERE s.outcome IS NULL AND u.code = s.unit_code")
        try stage.reject(where: "s.unit_id IS NULL", field: "unit_code", reason: "'no unit has ' || \(Stage.named("s.unit_code"))")
        try stage.dedupe(key: "(s.unit_id, s.phone, s.name)", compared: ["phone_kind", "other_phones", "role", "committee", "responsibilities"],
                         duplicates: .supersededUnlessIdentical(field: "name", what: "person (unit, main phone and name)"))
        try stage.upsert(into: "people", columns: ["name", "phone", "phone_kind", "other_phones", "role", "unit_id", "committee", "responsibilities"],
                         key: ["unit_id", "phone", "name"], updating: ["phone_kind", "other_phones", "role", "committee", "responsibilities"],
                         also: "updated_at = now()")
    }
}
