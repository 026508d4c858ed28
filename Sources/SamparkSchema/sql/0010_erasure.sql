-- Erasure on request, retention, and the processing log (docs/security.md).
--
-- An erased number keeps only its keyed hash (HMAC-SHA-256 under SAMPARK_PHONE_HASH_KEY, a
-- secret the database never holds), so it stays off every list without being stored in clear.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE erased_phones (
    phone_hash  bytea PRIMARY KEY CHECK (length(phone_hash) = 32),
    erased_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE erased_phones IS 'Numbers erased on request, by keyed hash only: never called again (sampark erase)';

-- Which key the hashes are under: HMAC of a fixed text, written by the first erasure. An erase
-- or a list build given another key refuses rather than silently missing every erased number.
CREATE TABLE phone_hash_key (
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    key_check  bytea NOT NULL
);

-- Whether `key` is the one the erasures used (true while nothing was erased): the one place
-- the check value is computed, for the erasure and the list-builder alike.
CREATE FUNCTION sampark_phone_hash_key_matches(key text) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT key_check = hmac('sampark phone hash key', key, 'sha256') FROM phone_hash_key), true)
$$;

-- An erased person's entries and attempts stay (the lists' and the aggregates' counts hold),
-- detached from the number and the person.
ALTER TABLE list_entries ALTER COLUMN phone DROP NOT NULL;
ALTER TABLE list_entries DROP CONSTRAINT list_entries_check;
ALTER TABLE list_entries ADD CONSTRAINT list_entries_someone
    CHECK (contact_id IS NOT NULL OR person_id IS NOT NULL OR phone IS NULL);

-- Who asked for which list, report, dossier, export or erasure, when and why. Never a phone
-- number or a name: the subject of a request is a campaign, a scope, a list id or a hash.
CREATE TABLE processing_log (
    id            bigserial PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    action        text NOT NULL CHECK (action IN ('list', 'report', 'dossier', 'export', 'erase', 'purge')),
    requested_by  text NOT NULL CHECK (requested_by <> ''),
    purpose       text NOT NULL CHECK (purpose <> ''),
    subject       text NOT NULL,
    detail        jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX processing_log_at ON processing_log (at);
COMMENT ON TABLE processing_log IS 'Kept at least a year: sampark purge --log-days is never under 366';

-- The workers write the requests they serve; nobody but the owner may change or delete a row.
GRANT INSERT ON processing_log TO sampark_lists, sampark_reports;
GRANT USAGE ON SEQUENCE processing_log_id_seq TO sampark_lists, sampark_reports;
GRANT SELECT ON erased_phones, phone_hash_key TO sampark_lists;

-- Each worker reads and relays only the outbox rows it wrote: a gateway's offer (a full
-- number) or an escalation (a name) is no other worker's business, and each worker's broker
-- user may publish only its own messages.
ALTER TABLE outbox ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON outbox TO sampark_ingest USING (app_id = 'ingest-worker') WITH CHECK (app_id = 'ingest-worker');
CREATE POLICY own_rows_lists ON outbox TO sampark_lists USING (app_id = 'list-builder') WITH CHECK (app_id = 'list-builder');
CREATE POLICY own_rows_dispatch ON outbox TO sampark_dispatch USING (app_id = 'dialer-dispatcher') WITH CHECK (app_id = 'dialer-dispatcher');
CREATE POLICY own_rows_feedback ON outbox TO sampark_feedback USING (app_id = 'feedback-aggregator') WITH CHECK (app_id = 'feedback-aggregator');
CREATE POLICY own_rows_reports ON outbox TO sampark_reports USING (app_id = 'reporter') WITH CHECK (app_id = 'reporter');

-- Erases everything Sampark holds of one number in one transaction, records it in the
-- processing log (who asked, why, the hash's first 16 hex digits: never the number), and
-- returns what it touched, by table. `phone` is the number in +91 form; `key` the keyed
-- hash's secret; `requested_by` and `purpose` go to the log. `sampark erase` and the
-- ingest-worker's erasure.request.v1 both come here.
CREATE FUNCTION sampark_erase(phone text, key text, requested_by text, purpose text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    contact_ids bigint[];
    person_ids  bigint[];
    entry_ids   bigint[];
    names       text[];
    n           jsonb := '{}';
    k           bigint;
BEGIN
    -- One at a time, and never beside a list build (which takes this lock shared): a build
    -- that started before sees the number in clear and is erased with it below; one that
    -- starts after sees its hash.
    PERFORM pg_advisory_xact_lock(1397771595);
    IF length(coalesce(key, '')) < 32 THEN
        RAISE EXCEPTION 'SAMPARK_PHONE_HASH_KEY is not set or shorter than 32 characters' USING ERRCODE = '22023';
    END IF;
    IF NOT sampark_phone_hash_key_matches(key) THEN
        RAISE EXCEPTION 'SAMPARK_PHONE_HASH_KEY is not the key earlier erasures used' USING ERRCODE = '22023';
    END IF;
    IF btrim(coalesce(requested_by, '')) = '' OR btrim(coalesce(purpose, '')) = ''
       OR length(requested_by) > 500 OR length(purpose) > 500 THEN
        RAISE EXCEPTION 'who asked and why must each be said, in at most 500 characters: the processing log keeps them'
            USING ERRCODE = '22023';
    END IF;
    INSERT INTO phone_hash_key (key_check) VALUES (hmac('sampark phone hash key', key, 'sha256')) ON CONFLICT DO NOTHING;
    SELECT coalesce(array_agg(id), '{}') INTO contact_ids FROM contacts c WHERE c.phone = sampark_erase.phone;
    SELECT coalesce(array_agg(id), '{}'), coalesce(array_agg(name), '{}') INTO person_ids, names
        FROM people p WHERE p.phone = sampark_erase.phone;
    SELECT coalesce(array_agg(id), '{}') INTO entry_ids FROM list_entries e
        WHERE e.phone = sampark_erase.phone OR e.contact_id = ANY (contact_ids) OR e.person_id = ANY (person_ids);

    INSERT INTO erased_phones (phone_hash) VALUES (hmac(sampark_erase.phone, key, 'sha256')) ON CONFLICT DO NOTHING;
    -- Kept off every list by its hash from now on, no longer by the number in clear.
    DELETE FROM opt_outs o WHERE o.phone = sampark_erase.phone;
    GET DIAGNOSTICS k = ROW_COUNT; n := n || jsonb_build_object('opt_outs', k);

    -- What they said: notes, answers and corrections go; the disposition, turnout and scheme
    -- answers stay as counts, now of nobody.
    UPDATE attempts SET feedback = NULL, answers = NULL, verification = NULL, issue_tags = NULL
        WHERE entry_id = ANY (entry_ids);
    GET DIAGNOSTICS k = ROW_COUNT; n := n || jsonb_build_object('attempts', k);
    -- A call in hand is taken back (its outcome, if it comes, counts, of nobody), and what
    -- was published of them, offers (a name, a number) and escalations, goes from the outbox.
    UPDATE offers SET state = 'expired', settled_at = now() WHERE entry_id = ANY (entry_ids) AND state = 'live';
    GET DIAGNOSTICS k = ROW_COUNT; n := n || jsonb_build_object('offers', k);
    DELETE FROM outbox WHERE message_id IN (SELECT 'offer-' || o.id FROM offers o WHERE o.entry_id = ANY (entry_ids))
        OR message_id IN (SELECT 'escalation/' || x.attempt_id FROM escalations x WHERE x.contact_id = ANY (contact_ids));
    GET DIAGNOSTICS k = ROW_COUNT; n := n || jsonb_build_object('outbox_messages', k);
    UPDATE list_entries SET phone = NULL, contact_id = NULL, person_id = NULL,
           state = CASE WHEN state IN ('pending', 'offered', 'waiting') THEN 'suppressed' ELSE state END,
           last_result = CASE WHEN state IN ('pending', 'offered', 'waiting') THEN 'erased' ELSE last_result END
        WHERE id = ANY (entry_ids);
    GET DIAGNOSTICS k = ROW_COUNT; n := n || jsonb_build_object('list_entries', k);
    UPDATE escalations SET contact_id = NULL WHERE contact_id = ANY (contact_ids);
    GET DIAGNOSTICS k = ROW_COUNT; n := n || jsonb_build_object('escalations', k);
    DELETE FROM turnout_marks WHERE contact_id = ANY (contact_ids);
    GET DIAGNOSTICS k = ROW_COUNT; n := n || jsonb_build_object('turnout_marks', k);
    DELETE FROM person_corrections WHERE person_id = ANY (person_ids);
    GET DIAGNOSTICS k = ROW_COUNT; n := n || jsonb_build_object('person_corrections', k);
    DELETE FROM people_reached WHERE person_id = ANY (person_ids);
    GET DIAGNOSTICS k = ROW_COUNT; n := n || jsonb_build_object('people_reached', k);
    DELETE FROM contacts WHERE id = ANY (contact_ids);
    GET DIAGNOSTICS k = ROW_COUNT; n := n || jsonb_build_object('contacts', k);
    DELETE FROM people WHERE id = ANY (person_ids);
    GET DIAGNOSTICS k = ROW_COUNT; n := n || jsonb_build_object('people', k);
    -- A second number of someone else's record.
    UPDATE people p SET other_phones = array_remove(p.other_phones, sampark_erase.phone)
        WHERE sampark_erase.phone = ANY (p.other_phones);
    GET DIAGNOSTICS k = ROW_COUNT; n := n || jsonb_build_object('other_phones', k);
    -- Messages already published that carried the number (an offer to a gateway), and stored
    -- dossiers that named an erased office-bearer (the next request builds them anew).
    DELETE FROM outbox WHERE position(convert_to(sampark_erase.phone, 'UTF8') IN body) > 0;
    GET DIAGNOSTICS k = ROW_COUNT; n := n || jsonb_build_object('outbox', k);
    DELETE FROM reports r WHERE r.kind = 'dossier'
        AND EXISTS (SELECT 1 FROM unnest(names) AS x WHERE position(to_json(x)::text IN r.body::text) > 0);
    GET DIAGNOSTICS k = ROW_COUNT; n := n || jsonb_build_object('dossiers', k);
    INSERT INTO processing_log (action, requested_by, purpose, subject, detail)
    VALUES ('erase', btrim(requested_by), btrim(purpose),
            'phone ' || left(encode(hmac(sampark_erase.phone, key, 'sha256'), 'hex'), 16), n);
    RETURN n;
END
$$;
REVOKE EXECUTE ON FUNCTION sampark_erase(text, text, text, text) FROM PUBLIC;
-- The ingest-worker erases on the central team's request (erasure.request.v1): the function
-- runs with its owner's rights (every table it clears), and only it, for that worker.
ALTER FUNCTION sampark_erase(text, text, text, text) SECURITY DEFINER SET search_path = public, pg_temp;
GRANT EXECUTE ON FUNCTION sampark_erase(text, text, text, text) TO sampark_ingest;
