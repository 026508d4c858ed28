-- The numbers in clear go (0011 sealed what was stored). From here no table holds one.
ALTER TABLE contacts DROP COLUMN phone;  -- with contacts_phone and contacts_unrolled
ALTER TABLE contacts ALTER COLUMN phone_hash SET NOT NULL, ALTER COLUMN phone_sealed SET NOT NULL,
    ALTER COLUMN phone_tail SET NOT NULL,
    ADD CONSTRAINT contacts_phone_hash_check CHECK (length(phone_hash) = 32),
    ADD CONSTRAINT contacts_phone_sealed_check CHECK (length(phone_sealed) > 29),
    ADD CONSTRAINT contacts_phone_tail_check CHECK (phone_tail ~ '^[0-9]{4}$');
CREATE INDEX contacts_phone_hash ON contacts (phone_hash);
CREATE UNIQUE INDEX contacts_unrolled ON contacts (phone_hash, name, booth_id) WHERE epic IS NULL AND ac_number IS NULL;

ALTER TABLE people DROP COLUMN phone, DROP COLUMN other_phones;  -- with people_identity
ALTER TABLE people ALTER COLUMN phone_hash SET NOT NULL, ALTER COLUMN phone_sealed SET NOT NULL,
    ALTER COLUMN phone_tail SET NOT NULL,
    ADD CONSTRAINT people_phone_hash_check CHECK (length(phone_hash) = 32),
    ADD CONSTRAINT people_phone_sealed_check CHECK (length(phone_sealed) > 29),
    ADD CONSTRAINT people_phone_tail_check CHECK (phone_tail ~ '^[0-9]{4}$'),
    ADD CONSTRAINT people_other_phones_check CHECK (cardinality(other_phones_sealed) = cardinality(other_phone_hashes));
CREATE UNIQUE INDEX people_identity ON people (unit_id, phone_hash, name);

-- An opt-out is only ever matched, never called: its hash is all that is kept.
ALTER TABLE opt_outs DROP COLUMN phone;
ALTER TABLE opt_outs ALTER COLUMN phone_hash SET NOT NULL, ADD PRIMARY KEY (phone_hash),
    ADD CONSTRAINT opt_outs_phone_hash_check CHECK (length(phone_hash) = 32);

-- An erased entry keeps none of the three (list_entries_someone goes with the column).
ALTER TABLE list_entries DROP COLUMN phone;
ALTER TABLE list_entries
    ADD CONSTRAINT list_entries_phone_whole CHECK ((phone_hash IS NULL) = (phone_sealed IS NULL) AND (phone_hash IS NULL) = (phone_tail IS NULL)),
    ADD CONSTRAINT list_entries_someone CHECK (contact_id IS NOT NULL OR person_id IS NOT NULL OR phone_hash IS NULL);

-- The aggregator shows an escalation's number masked: the last four digits, no more.
GRANT SELECT (phone_tail) ON contacts TO sampark_feedback;

-- Erasure by the keyed hash of the number given: the function hashes it with the key given
-- (checked against the recorded check value), so it finds every row without a number in clear.
CREATE OR REPLACE FUNCTION sampark_erase(phone text, key text, requested_by text, purpose text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    hash        bytea;
    contact_ids bigint[];
    person_ids  bigint[];
    entry_ids   bigint[];
    names       text[];
    n           jsonb := '{}';
    k           bigint;
BEGIN
    -- One at a time, and never beside a list build (which takes this lock shared): a build
    -- that started before is erased with the rest below; one that starts after finds the
    -- hash in erased_phones.
    PERFORM pg_advisory_xact_lock(1397771595);
    IF length(coalesce(key, '')) < 32 THEN
        RAISE EXCEPTION 'SAMPARK_PHONE_HASH_KEY is not set or shorter than 32 characters' USING ERRCODE = '22023';
    END IF;
    IF NOT sampark_phone_hash_key_matches(key) THEN
        RAISE EXCEPTION 'SAMPARK_PHONE_HASH_KEY is not the key the stored numbers were hashed with' USING ERRCODE = '22023';
    END IF;
    IF btrim(coalesce(requested_by, '')) = '' OR btrim(coalesce(purpose, '')) = ''
       OR length(requested_by) > 500 OR length(purpose) > 500 THEN
        RAISE EXCEPTION 'who asked and why must each be said, in at most 500 characters: the processing log keeps them'
            USING ERRCODE = '22023';
    END IF;
    INSERT INTO phone_hash_key (key_check) VALUES (hmac('sampark phone hash key', key, 'sha256')) ON CONFLICT DO NOTHING;
    hash := hmac(sampark_erase.phone, key, 'sha256');
    SELECT coalesce(array_agg(id), '{}') INTO contact_ids FROM contacts c WHERE c.phone_hash = hash;
    SELECT coalesce(array_agg(id), '{}'), coalesce(array_agg(name), '{}') INTO person_ids, names
        FROM people p WHERE p.phone_hash = hash;
    SELECT coalesce(array_agg(id), '{}') INTO entry_ids FROM list_entries e
        WHERE e.phone_hash = hash OR e.contact_id = ANY (contact_ids) OR e.person_id = ANY (person_ids);

    INSERT INTO erased_phones (phone_hash) VALUES (hash) ON CONFLICT DO NOTHING;
    -- Kept off every list by erased_phones from now on.
    DELETE FROM opt_outs o WHERE o.phone_hash = hash;
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
    UPDATE list_entries SET phone_hash = NULL, phone_sealed = NULL, phone_tail = NULL, contact_id = NULL, person_id = NULL,
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
    -- A second number of someone else's record: its sealed value goes with its hash.
    UPDATE people p SET
        other_phones_sealed = ARRAY(SELECT s FROM unnest(p.other_phones_sealed, p.other_phone_hashes) WITH ORDINALITY AS x(s, h, i)
                                    WHERE x.h <> hash ORDER BY x.i),
        other_phone_hashes = array_remove(p.other_phone_hashes, hash)
        WHERE hash = ANY (p.other_phone_hashes);
    GET DIAGNOSTICS k = ROW_COUNT; n := n || jsonb_build_object('other_phones', k);
    -- Messages already published that carried the number in clear (none since the
    -- dispatcher seals a gateway's offer, kept for rows from before), and stored dossiers
    -- that named an erased office-bearer (the next request builds them anew).
    DELETE FROM outbox WHERE position(convert_to(sampark_erase.phone, 'UTF8') IN body) > 0;
    GET DIAGNOSTICS k = ROW_COUNT; n := n || jsonb_build_object('outbox', k);
    DELETE FROM reports r WHERE r.kind = 'dossier'
        AND EXISTS (SELECT 1 FROM unnest(names) AS x WHERE position(to_json(x)::text IN r.body::text) > 0);
    GET DIAGNOSTICS k = ROW_COUNT; n := n || jsonb_build_object('dossiers', k);
    INSERT INTO processing_log (action, requested_by, purpose, subject, detail)
    VALUES ('erase', btrim(requested_by), btrim(purpose), 'phone ' || left(encode(hash, 'hex'), 16), n);
    RETURN n;
END
$$;
-- CREATE OR REPLACE resets these: the function still runs with its owner's rights.
ALTER FUNCTION sampark_erase(text, text, text, text) SECURITY DEFINER SET search_path = public, pg_temp;

-- A telephony gateway's offer carries the full number: the dispatcher writes its body sealed
-- (with the phone key, as above) and its relay opens it only to publish it.
ALTER TABLE outbox ADD COLUMN sealed boolean NOT NULL DEFAULT false;
