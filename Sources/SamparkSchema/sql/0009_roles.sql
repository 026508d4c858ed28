-- Least privilege: a PostgreSQL role per worker, granted only the tables (and, where a table
-- holds phone numbers it does not need, only the columns) its work touches, and a role for the
-- states' analysts that sees only its own state's rows (row-level security).
--
-- The roles are NOLOGIN groups, made once per cluster: a login joins one
-- (`sampark db-login`, docs/security.md), so passwords never pass through a migration. The
-- owner that runs migrations (`sampark`) keeps every right and bypasses row-level security as
-- owner; workers should never run as it. A migration that adds a table grants it here-after
-- in its own file: a test fails for a table no role is granted (SchemaPrivilegeTests).

DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['sampark_ingest', 'sampark_lists', 'sampark_dispatch', 'sampark_feedback',
                             'sampark_reports', 'sampark_analyst'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL; -- another database of this cluster migrating at the same moment made it
            END;
        END IF;
    END LOOP;
END
$$;

-- Every worker: the delivery tables of its own handling (docs/runtime.md) and the sequences
-- behind identity columns it inserts into.
GRANT SELECT, INSERT, UPDATE, DELETE ON inbox, outbox
    TO sampark_ingest, sampark_lists, sampark_dispatch, sampark_feedback, sampark_reports;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public
    TO sampark_ingest, sampark_lists, sampark_dispatch, sampark_feedback, sampark_reports;
-- The workers' health and metrics endpoints count live offers and agents (SamparkServer).
GRANT SELECT ON agents, offers TO sampark_ingest, sampark_lists, sampark_dispatch, sampark_feedback, sampark_reports;

-- ingest-worker: every source file and the central team's material; turnout marks from booths.
GRANT SELECT, INSERT, UPDATE, DELETE ON org_units, people, contacts, booth_results, call_centres,
    call_centre_regions, poll_calendar, opt_outs, turnout_marks, materials, material_scopes,
    ingest_loads, ingest_rejects
    TO sampark_ingest;

-- list-builder: reads the audience and the rules' history, writes campaigns and lists.
GRANT SELECT ON org_units, people, contacts, booth_results, call_centres, call_centre_regions,
    poll_calendar, opt_outs, turnout_marks, materials, material_scopes, attempts
    TO sampark_lists;
GRANT SELECT, INSERT, UPDATE ON campaigns, call_lists, list_entries TO sampark_lists;

-- dialer-dispatcher: the lawful-calling gates read, offers and refusals written, presence kept.
GRANT SELECT ON org_units, people, contacts, call_centres, call_centre_regions, poll_calendar,
    turnout_marks, materials, material_scopes, campaigns, call_lists, attempts
    TO sampark_dispatch;
GRANT SELECT, INSERT, UPDATE ON agents, offers, list_entries, dispatch_refusals, opt_outs TO sampark_dispatch;
-- A centre's fills are serialised by a row lock on the centre (FOR NO KEY UPDATE), which needs
-- an UPDATE right on some column: the key, which every offer and entry references, so it
-- cannot really change.
GRANT UPDATE (id) ON call_centres TO sampark_dispatch;

-- feedback-aggregator: the ledger, the entries' next state, every aggregate, and the outcome's
-- effects (opt-outs, turnout marks, escalations, corrections). An opt-out takes the number
-- from the offer; a contact's name and phone are read only to put the name and the masked
-- number (last four digits) on the escalation the district follows up.
GRANT SELECT ON org_units, call_centres, campaigns, call_lists TO sampark_feedback;
GRANT SELECT (id, booth_id, state_id, ac_number, part_number, language, gender, age, schemes, phone_kind, name, phone)
    ON contacts TO sampark_feedback;
-- A worker's corrections are stored beside what the record said (name, role, responsibilities).
GRANT SELECT (id, unit_id, role, name, responsibilities) ON people TO sampark_feedback;
GRANT SELECT, INSERT, UPDATE ON attempts, offers, list_entries, unit_aggregates, shift_aggregates,
    answer_tallies, scheme_tallies, issue_tallies, people_reached, person_corrections, opt_outs,
    turnout_marks, escalations
    TO sampark_feedback;

-- reporter: aggregates, never the ledger's personal parts; the dossier's people by name and
-- responsibility (no phone), and voters only as counts per booth.
GRANT SELECT ON org_units, booth_results, call_centres, call_centre_regions, campaigns,
    dispatch_refusals, escalations, unit_aggregates, shift_aggregates, answer_tallies,
    scheme_tallies, issue_tallies, people_reached, person_corrections, poll_calendar
    TO sampark_reports;
GRANT SELECT (id, booth_id, state_id, ac_number, part_number, language, gender, age, schemes, phone_kind) ON contacts TO sampark_reports;
GRANT SELECT (id, name, role, unit_id, committee, responsibilities) ON people TO sampark_reports;
GRANT SELECT, INSERT, UPDATE ON reports, report_runs TO sampark_reports;

-- A state's analysts: reports, escalations, aggregates and the organisation, their own state's
-- rows only; people by name and responsibility, never a phone; no voter, contact or call.
CREATE TABLE analyst_scopes (
    role_name  name PRIMARY KEY,
    unit_id    bigint NOT NULL REFERENCES org_units (id),
    granted_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE analyst_scopes IS 'The unit (a state) whose rows each analyst login may read; sampark db-login --analyst';

GRANT SELECT ON org_units, analyst_scopes, reports, escalations, unit_aggregates TO sampark_analyst;
GRANT SELECT (id, name, role, unit_id, committee, responsibilities) ON people TO sampark_analyst;

-- The units an analyst may see: its scope's subtree. One function for every policy; it runs
-- as the caller (SECURITY INVOKER, the default), so current_user is the analyst's login.
CREATE FUNCTION sampark_analyst_units() RETURNS SETOF bigint LANGUAGE sql STABLE AS $$
    SELECT u.id FROM analyst_scopes s JOIN org_units top ON top.id = s.unit_id
    JOIN org_units u ON u.path <@ top.path WHERE s.role_name = current_user
$$;

ALTER TABLE analyst_scopes ENABLE ROW LEVEL SECURITY;
CREATE POLICY analyst_own_scope ON analyst_scopes FOR SELECT TO sampark_analyst
    USING (role_name = current_user);

ALTER TABLE reports ENABLE ROW LEVEL SECURITY;
CREATE POLICY workers_all ON reports TO sampark_reports USING (true) WITH CHECK (true);
CREATE POLICY analyst_state ON reports FOR SELECT TO sampark_analyst
    USING (scope IN (SELECT code FROM org_units WHERE id IN (SELECT sampark_analyst_units())));

ALTER TABLE escalations ENABLE ROW LEVEL SECURITY;
CREATE POLICY workers_all ON escalations TO sampark_feedback, sampark_reports USING (true) WITH CHECK (true);
CREATE POLICY analyst_state ON escalations FOR SELECT TO sampark_analyst USING (unit_id IN (SELECT sampark_analyst_units()));

ALTER TABLE unit_aggregates ENABLE ROW LEVEL SECURITY;
CREATE POLICY workers_all ON unit_aggregates TO sampark_feedback, sampark_reports USING (true) WITH CHECK (true);
CREATE POLICY analyst_state ON unit_aggregates FOR SELECT TO sampark_analyst USING (unit_id IN (SELECT sampark_analyst_units()));

ALTER TABLE people ENABLE ROW LEVEL SECURITY;
CREATE POLICY workers_all ON people TO sampark_ingest, sampark_lists, sampark_dispatch, sampark_feedback, sampark_reports
    USING (true) WITH CHECK (true);
CREATE POLICY analyst_state ON people FOR SELECT TO sampark_analyst USING (unit_id IN (SELECT sampark_analyst_units()));

-- `sampark db-login`: a login joining one of the roles above (an analyst's with its state).
-- The password travels as a parameter and is spliced into the statement inside the function,
-- so the statement the client sends (and pg_stat_activity) never carries it; PostgreSQL
-- stores it as a SCRAM verifier (password_encryption). Should that inner statement fail, the
-- server log's CONTEXT line quotes it (docs/security.md).
CREATE FUNCTION sampark_db_login(login name, member_of name, password text, state_code text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    state_unit bigint;
    r name;
BEGIN
    IF member_of NOT IN ('sampark_ingest', 'sampark_lists', 'sampark_dispatch', 'sampark_feedback',
                         'sampark_reports', 'sampark_analyst') THEN
        RAISE EXCEPTION '% is not one of Sampark''s roles', member_of USING ERRCODE = '22023';
    END IF;
    -- A login is a person or a process, never one of the roles, the owner or a superuser:
    -- turning a role into a login would hand every member its password.
    IF login LIKE 'sampark\_%' OR login LIKE 'pg\_%' OR login = current_user
       OR EXISTS (SELECT 1 FROM pg_roles WHERE rolname = login AND (rolsuper OR rolcreaterole OR NOT rolinherit)) THEN
        RAISE EXCEPTION '% cannot be a Sampark login (a role, the owner, or a superuser)', login USING ERRCODE = '22023';
    END IF;
    IF length(coalesce(password, '')) < 12 THEN
        RAISE EXCEPTION 'the password of % is shorter than 12 characters', login USING ERRCODE = '22023';
    END IF;
    IF member_of = 'sampark_analyst' THEN
        SELECT id INTO state_unit FROM org_units WHERE code = state_code AND level = 'state';
        IF state_unit IS NULL THEN
            RAISE EXCEPTION 'an analyst''s login needs a state: no state has the code %', coalesce(state_code, '(none)')
                USING ERRCODE = '22023';
        END IF;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = login) THEN
        EXECUTE format('ALTER ROLE %I LOGIN PASSWORD %L', login, password);
    ELSE
        EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L', login, password);
    END IF;
    -- Exactly one role: what an earlier run granted goes (and an analyst's scope with it).
    FOR r IN SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
             WHERE u.rolname = login AND g.rolname LIKE 'sampark\_%' AND g.rolname <> member_of LOOP
        EXECUTE format('REVOKE %I FROM %I', r, login);
    END LOOP;
    EXECUTE format('GRANT %I TO %I', member_of, login);
    IF state_unit IS NULL THEN
        DELETE FROM analyst_scopes WHERE role_name = login;
    ELSE
        INSERT INTO analyst_scopes (role_name, unit_id) VALUES (login, state_unit)
        ON CONFLICT (role_name) DO UPDATE SET unit_id = EXCLUDED.unit_id, granted_at = now();
    END IF;
    RETURN format('%s: member of %s%s', login, member_of, CASE WHEN state_code IS NULL THEN '' ELSE ', state ' || state_code END);
END
$$;
REVOKE EXECUTE ON FUNCTION sampark_db_login(name, name, text, text) FROM PUBLIC;
