import SamparkCore
import SamparkPostgres

/// `org_units`: level, code, name, parent_code. A parent comes before its children (earlier
/// in the file, or in an earlier load); the CLI sends this source one batch at a time. The
/// tree's path is built from ids, so codes may hold any characters. A unit's state is its
/// nearest ancestor-or-self of level `state`, else its tree's root.
struct OrgUnitLoader: SourceLoader {
    let source = IngestSource.orgUnits
    let stagedColumns: [(name: String, type: String)] = [("level", "text"), ("code", "text"), ("name", "text"), ("parent_code", "text")]
    let workColumns: [(name: String, type: String)] = [("unit_id", "bigint")]

    func validate(_ fields: Fields) throws(RowRejection) -> [String?] {
        // Levels are data, compared lower-cased (`State` and `state` are one level).
        [try fields.required("level", maximum: 60).lowercased(), try fields.required("code", maximum: 100),
         try fields.required("name"), try fields.optional("parent_code", maximum: 100)]
    }

    func merge(_ stage: Stage) throws {
        try stage.reject(where: "s.parent_code = s.code", field: "parent_code", reason: "'a unit cannot be its own parent'")
        try stage.dedupe(key: "s.code", compared: ["level", "name", "parent_code"],
                         duplicates: .supersededUnlessIdentical(field: "code", what: "unit code"))
        // Parents first: each round stores the units whose parent is stored by now, so a
        // batch holding a whole subtree takes as many rounds as it has levels.
        while true {
            try classifyStored(stage)
            let inserted = try stage.run("""
                WITH ready AS (
                    SELECT s.line, s.level, s.code, s.name, p.id AS parent_id, p.path AS parent_path, p.state_id AS parent_state,
                           nextval(pg_get_serial_sequence('org_units', 'id')) AS id
                    FROM {stage} s LEFT JOIN org_units p ON p.code = s.parent_code
                    WHERE s.outcome IS NULL AND (s.parent_code IS NULL OR p.id IS NOT NULL)
                ), stored AS (
                    INSERT INTO org_units (id, level, code, name, parent_id, path, state_id)
                    SELECT id, level, code, name, parent_id,
                           CASE WHEN parent_path IS NULL THEN text2ltree(id::text) ELSE parent_path || id::text END,
                           CASE WHEN parent_id IS NULL OR level = 'state' THEN id ELSE parent_state END
                    FROM ready
                    ON CONFLICT (code) DO NOTHING
                    RETURNING code
                )
                UPDATE {stage} s SET outcome = 'inserted' FROM stored WHERE s.outcome IS NULL AND s.code = stored.code
                """)
            if inserted == 0 { break }
        }
        // Units another load stored meanwhile (its INSERT won the ON CONFLICT) are stored now.
        try classifyStored(stage)
        try stage.reject(where: "s.parent_code IS NULL", field: "code",
                         reason: "'another load stored this unit at the same moment; load the file again'")
        try stage.reject(where: "true", field: "parent_code",
                         reason: "'no unit has ' || \(Stage.named("s.parent_code")) || ' (a parent must come before its children)'")
    }

    /// Units already stored: unchanged, updated (level or name), or rejected when the file
    /// puts them under another parent (moving a unit would move its whole subtree's paths).
    private func classifyStored(_ stage: Stage) throws {
        try stage.run("""
            WITH found AS (
                SELECT s.line, u.id, u.level, u.name, u.parent_id, p.id AS file_parent
                FROM {stage} s JOIN org_units u ON u.code = s.code LEFT JOIN org_units p ON p.code = s.parent_code
                WHERE s.outcome IS NULL
            )
            UPDATE {stage} s SET unit_id = f.id,
                outcome = CASE WHEN f.parent_id IS DISTINCT FROM f.file_parent THEN 'rejected'
                               WHEN (f.level = 'state') <> (s.level = 'state') THEN 'rejected'
                               WHEN (f.level, f.name) = (s.level, s.name) THEN 'unchanged' END,
                reject_field = CASE WHEN f.parent_id IS DISTINCT FROM f.file_parent THEN 'parent_code'
                                    WHEN (f.level = 'state') <> (s.level = 'state') THEN 'level' END,
                reject_reason = CASE WHEN f.parent_id IS DISTINCT FROM f.file_parent
                    THEN 'the unit exists under another parent; moving units is not supported'
                    WHEN (f.level = 'state') <> (s.level = 'state')
                    THEN 'a unit cannot become or stop being a state (voters are keyed by their state)' END
            FROM found f WHERE s.line = f.line
            """)
        try stage.run("""
            WITH changed AS (
                UPDATE org_units u SET level = s.level, name = s.name FROM {stage} s
                WHERE s.outcome IS NULL AND s.unit_id = u.id RETURNING u.id
            )
            UPDATE {stage} s SET outcome = 'updated' FROM changed WHERE s.outcome IS NULL AND s.unit_id = changed.id
            """)
    }
}
