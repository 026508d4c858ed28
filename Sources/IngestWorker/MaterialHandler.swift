import Foundation
import Logging
import SamparkCore
import SamparkPostgres
import SamparkRuntime

/// Handles `material.published.v1`, the central team's campaign material: stored once per
/// (id, version), however often it is published; within its scope the highest version is
/// current (view `current_materials`), so an older version arriving late changes nothing a
/// caller sees. A body breaking the rules is dead-lettered with the reason.
public struct MaterialHandler: MessageHandler {
    public init() {}

    public func handle(_ material: MaterialPublished, context: HandlerContext) throws {
        try Self.check(material)
        let connection = context.connection
        let scope = try connection.query("""
            SELECT c.code, u.id FROM unnest($1::text[]) AS c(code) LEFT JOIN org_units u ON u.code = c.code
            """, [PostgresArrayText.encode(material.scope.map { Optional($0) })], prepared: true)
        var unitIDs: [Int64] = []
        for row in scope {
            guard let id = try row.decode(Int64?.self, at: 1) else {
                throw HandlerError.permanent("scope: no unit has code '\(try row.decode(String.self, at: 0))'")
            }
            unitIDs.append(id)
        }
        let scripts = String(decoding: try JSONEncoder().encode(material.scripts), as: UTF8.self)
        let questions = String(decoding: try JSONEncoder().encode(material.questions ?? []), as: UTF8.self)
        let stored = try connection.query("""
            INSERT INTO materials (code, version, title, scripts, questions, valid_from, valid_to, message_id)
            VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7, $8)
            ON CONFLICT (code, version) DO NOTHING RETURNING code
            """, [material.id, material.version, material.title, scripts, questions, material.validFrom, material.validTo,
                  context.messageID], prepared: true)
        guard !stored.isEmpty else { return }    // this id and version is stored already: the first is kept
        try connection.execute("""
            INSERT INTO material_scopes (code, version, unit_id) SELECT $1, $2, unnest($3::bigint[]) ON CONFLICT DO NOTHING
            """, [material.id, material.version, PostgresArrayText.encode(unitIDs.map { Optional(String($0)) })], prepared: true)
    }

    /// The rules a body must meet, each failure naming its field.
    static func check(_ material: MaterialPublished) throws {
        func fail(_ reason: String) -> HandlerError { .permanent(reason) }
        let id = material.id.trimmingCharacters(in: .whitespaces)
        guard !id.isEmpty, id.count <= 100 else { throw fail("id: is empty or longer than 100 characters") }
        guard material.version >= 1 else { throw fail("version: is not a whole number from 1") }
        guard !material.title.trimmingCharacters(in: .whitespaces).isEmpty else { throw fail("title: is empty") }
        guard !material.scripts.isEmpty else { throw fail("scripts: has no language") }
        func isLanguage(_ code: String) -> Bool {
            (2...8).contains(code.count) && code.allSatisfy { $0.isASCII && ($0.isLowercase || $0 == "-") }
        }
        for (language, text) in material.scripts {
            guard isLanguage(language) else { throw fail("scripts: a key is not a language code such as hi or en") }
            guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw fail("scripts.\(language): is empty") }
        }
        for (index, question) in (material.questions ?? []).enumerated() {
            guard !question.id.isEmpty else { throw fail("questions[\(index)].id: is empty") }
            guard !question.text.isEmpty, question.text.keys.allSatisfy(isLanguage) else {
                throw fail("questions[\(index)].text: needs the question per language code")
            }
        }
        guard !material.scope.isEmpty else { throw fail("scope: names no unit") }
        if let from = material.validFrom, let to = material.validTo, from >= to {
            throw fail("valid_to: is not after valid_from")
        }
    }
}
