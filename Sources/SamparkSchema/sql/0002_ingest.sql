-- Every source the network runs on, as docs/ingest.md describes them: voters keyed the way
-- electoral rolls key them, people with several phones, centres with several regions, shifts
-- and languages, turnout marks, versioned material with its scope, and the record of every
-- load (its counts and each rejected line).

-- Phones: landlines are kept (and marked), so the stored form is +91 and ten digits starting
-- 1-9; only mobiles (6-9) are ever put on a call list.
ALTER TABLE contacts DROP CONSTRAINT contacts_phone_check;
ALTER TABLE contacts ADD CONSTRAINT contacts_phone_check CHECK (phone ~ '^\+91[1-9][0-9]{9}$');
ALTER TABLE people DROP CONSTRAINT people_phone_check;
ALTER TABLE people ADD CONSTRAINT people_phone_check CHECK (phone ~ '^\+91[1-9][0-9]{9}$');
ALTER TABLE opt_outs DROP CONSTRAINT opt_outs_phone_check;
ALTER TABLE opt_outs ADD CONSTRAINT opt_outs_phone_check CHECK (phone ~ '^\+91[1-9][0-9]{9}$');

-- The state a unit lies in: its nearest ancestor-or-self of level 'state', else its tree's
-- root. Roll positions (AC, part, serial) are unique within a state.
ALTER TABLE org_units ADD COLUMN state_id bigint REFERENCES org_units (id);
WITH RECURSIVE walk AS (
    SELECT id, id AS state_id FROM org_units WHERE parent_id IS NULL
    UNION ALL
    SELECT u.id, CASE WHEN u.level = 'state' THEN u.id ELSE w.state_id END
    FROM org_units u JOIN walk w ON u.parent_id = w.id
)
UPDATE org_units o SET state_id = walk.state_id FROM walk WHERE walk.id = o.id;
ALTER TABLE org_units ALTER COLUMN state_id SET NOT NULL;

-- Voters and beneficiaries. Identity: the EPIC id; else the roll position (state, AC, part,
-- serial); else, for a beneficiary with neither, (phone, name, booth). Household members
-- sharing a phone are distinct rows; the household is a house number within a part.
ALTER TABLE contacts DROP CONSTRAINT contacts_phone_name_booth_id_key;
ALTER TABLE contacts RENAME COLUMN household TO house_number;
ALTER TABLE contacts
    ADD COLUMN phone_kind text NOT NULL DEFAULT 'mobile' CHECK (phone_kind IN ('mobile', 'landline')),
    ADD COLUMN gender text CHECK (gender IN ('F', 'M', 'T')),
    ADD COLUMN age smallint CHECK (age BETWEEN 18 AND 120),
    ADD COLUMN state_id bigint REFERENCES org_units (id),
    ADD COLUMN ac_number integer CHECK (ac_number > 0),
    ADD COLUMN part_number integer CHECK (part_number > 0),
    ADD COLUMN serial_number integer CHECK (serial_number > 0),
    ADD COLUMN updated_at timestamptz,
    ADD CONSTRAINT contacts_roll_complete CHECK (
        (ac_number IS NULL) = (part_number IS NULL) AND (part_number IS NULL) = (serial_number IS NULL)
        AND (ac_number IS NULL OR state_id IS NOT NULL));
UPDATE contacts c SET state_id = b.state_id FROM org_units b WHERE b.id = c.booth_id;
ALTER TABLE contacts ALTER COLUMN state_id SET NOT NULL;
CREATE UNIQUE INDEX contacts_epic ON contacts (epic) WHERE epic IS NOT NULL;
-- AC first: a turnout mark without a state still finds its voters through this index.
CREATE UNIQUE INDEX contacts_roll ON contacts (ac_number, part_number, serial_number, state_id) WHERE ac_number IS NOT NULL;
CREATE UNIQUE INDEX contacts_unrolled ON contacts (phone, name, booth_id) WHERE epic IS NULL AND ac_number IS NULL;

-- People: several phones (the first is the main one); identity (unit, main phone, name).
ALTER TABLE people
    ADD COLUMN phone_kind text NOT NULL DEFAULT 'mobile' CHECK (phone_kind IN ('mobile', 'landline')),
    ADD COLUMN other_phones text[] NOT NULL DEFAULT '{}',
    ADD COLUMN updated_at timestamptz;
CREATE UNIQUE INDEX people_identity ON people (unit_id, phone, name);

-- Booth results: the booth's electors and turnout (votes polled) beside each party's votes.
ALTER TABLE booth_results
    ADD COLUMN electors integer CHECK (electors >= 0),
    ADD COLUMN turnout integer CHECK (turnout >= 0),
    ADD CONSTRAINT booth_results_sane CHECK (votes <= coalesce(turnout, votes) AND coalesce(turnout, 0) <= coalesce(electors, turnout, 0));

-- Call centres: several regions (subtrees), shifts and languages. Calling hours span the
-- shifts; the dispatcher keeps every call inside a shift.
CREATE TABLE call_centre_regions (
    centre_id  bigint NOT NULL REFERENCES call_centres (id) ON DELETE CASCADE,
    unit_id    bigint NOT NULL REFERENCES org_units (id),
    PRIMARY KEY (centre_id, unit_id)
);
INSERT INTO call_centre_regions (centre_id, unit_id) SELECT id, region_id FROM call_centres;
ALTER TABLE call_centres DROP COLUMN region_id;
ALTER TABLE call_centres
    ADD COLUMN shifts text[] NOT NULL DEFAULT '{09:00-21:00}',
    ADD COLUMN languages text[] NOT NULL DEFAULT '{}';
UPDATE call_centres SET shifts = ARRAY[to_char(calls_from, 'HH24:MI') || '-' || to_char(calls_to, 'HH24:MI')];

-- Turnout marks on polling day: one row per voter who has voted, the earliest mark kept.
CREATE TABLE turnout_marks (
    contact_id   bigint PRIMARY KEY REFERENCES contacts (id),
    voted_at     timestamptz NOT NULL,
    source       text NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);

-- Campaign material: scripts and survey questions per language, valid from/to, a scope of
-- units. Within its scope, the highest version is current.
-- Material stored before this migration keeps its script (language unknown: "und") and scope.
ALTER TABLE materials
    ADD COLUMN scripts jsonb CHECK (jsonb_typeof(scripts) = 'object'),
    ADD COLUMN questions jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(questions) = 'array'),
    ADD COLUMN valid_from timestamptz,
    ADD COLUMN valid_to timestamptz,
    ADD COLUMN message_id text,
    ADD CONSTRAINT materials_valid_span CHECK (valid_from IS NULL OR valid_to IS NULL OR valid_from < valid_to);
UPDATE materials SET scripts = jsonb_build_object('und', script);
ALTER TABLE materials ALTER COLUMN scripts SET NOT NULL;
CREATE TABLE material_scopes (
    code     text NOT NULL,
    version  integer NOT NULL,
    unit_id  bigint NOT NULL REFERENCES org_units (id),
    PRIMARY KEY (code, version, unit_id),
    FOREIGN KEY (code, version) REFERENCES materials (code, version)
);
INSERT INTO material_scopes (code, version, unit_id) SELECT code, version, scope_id FROM materials WHERE scope_id IS NOT NULL;
ALTER TABLE materials DROP COLUMN script, DROP COLUMN scope_id;
CREATE VIEW current_materials AS
    SELECT DISTINCT ON (s.code, s.unit_id) s.unit_id, m.*
    FROM material_scopes s JOIN materials m USING (code, version)
    ORDER BY s.code, s.unit_id, s.version DESC;

-- One row per `sampark load`: its counts, filled in batch by batch; `finished_at` is set by
-- the transaction that applies the last outstanding batch.
CREATE TABLE ingest_loads (
    load_id        text PRIMARY KEY,
    source         text NOT NULL,
    file           text NOT NULL,
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    batches_total  integer,
    batches_done   integer NOT NULL DEFAULT 0,
    rows_read      bigint NOT NULL DEFAULT 0,
    inserted       bigint NOT NULL DEFAULT 0,
    updated        bigint NOT NULL DEFAULT 0,
    unchanged      bigint NOT NULL DEFAULT 0,
    rejected       bigint NOT NULL DEFAULT 0,
    CHECK (rows_read = inserted + updated + unchanged + rejected)
);

-- Every rejected line of every load, with its field and reason (never its values).
CREATE TABLE ingest_rejects (
    load_id  text NOT NULL REFERENCES ingest_loads (load_id),
    line     bigint NOT NULL,
    field    text NOT NULL,
    reason   text NOT NULL,
    PRIMARY KEY (load_id, line)
);

-- Announcements (an event for whoever listens) are published without the mandatory flag:
-- nobody bound is not a failure for them.
ALTER TABLE outbox ADD COLUMN mandatory boolean NOT NULL DEFAULT true;
