-- Phone numbers at rest (docs/security.md): each stored number becomes its keyed hash
-- (HMAC-SHA-256, for matching, dedupe, opt-outs and erasure), the number sealed with
-- AES-256-GCM by the worker that stored it (one byte naming the key, then nonce, ciphertext
-- and tag) and its last four digits (what masked numbers show). The keys live in the workers'
-- environment, never here.
--
-- This file adds the new columns. Numbers already stored are sealed by `sampark migrate`
-- right after it, in the same transaction (it needs SAMPARK_PHONE_KEYS and
-- SAMPARK_PHONE_HASH_KEY only when there are any); 0012 then drops the columns in clear.
ALTER TABLE contacts ADD COLUMN phone_hash bytea, ADD COLUMN phone_sealed bytea, ADD COLUMN phone_tail text;
ALTER TABLE people ADD COLUMN phone_hash bytea, ADD COLUMN phone_sealed bytea, ADD COLUMN phone_tail text,
    ADD COLUMN other_phones_sealed bytea[] NOT NULL DEFAULT '{}',
    ADD COLUMN other_phone_hashes bytea[] NOT NULL DEFAULT '{}';
ALTER TABLE opt_outs ADD COLUMN phone_hash bytea;
ALTER TABLE list_entries ADD COLUMN phone_hash bytea, ADD COLUMN phone_sealed bytea, ADD COLUMN phone_tail text;

-- The check values of the keys the stored values were made with (an HMAC of a fixed text
-- under each key: they tell a key, they do not give it). A worker given another key under
-- an id already used, or another hash key, is refused before it writes anything.
CREATE TABLE phone_seal_keys (
    key_id     smallint PRIMARY KEY CHECK (key_id BETWEEN 1 AND 255),
    key_check  bytea NOT NULL CHECK (length(key_check) = 32),
    first_used timestamptz NOT NULL DEFAULT now()
);

-- Records the keys' check values the first time they are seen and returns why they are
-- refused (null when they are the ones already recorded). Run by every worker that seals or
-- hashes a number, before it does.
CREATE FUNCTION sampark_claim_phone_keys(hash_check bytea, key_ids int[], key_checks bytea[]) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    refused int;
BEGIN
    IF length(hash_check) <> 32 OR cardinality(key_ids) <> cardinality(key_checks) OR cardinality(key_ids) = 0 THEN
        RETURN 'the key check values are malformed';
    END IF;
    IF EXISTS (SELECT 1 FROM phone_hash_key WHERE key_check <> hash_check) THEN
        RETURN 'SAMPARK_PHONE_HASH_KEY is not the key the stored numbers were hashed with';
    END IF;
    -- Refused before anything is recorded: a refused set of keys leaves no check value behind.
    SELECT min(k.i) INTO refused FROM unnest(key_ids, key_checks) AS k(i, c)
        JOIN phone_seal_keys s ON s.key_id = k.i WHERE s.key_check <> k.c;
    IF refused IS NOT NULL THEN
        RETURN 'SAMPARK_PHONE_KEYS: key ' || refused || ' is not the key ' || refused || ' the stored numbers were sealed with';
    END IF;
    INSERT INTO phone_seal_keys (key_id, key_check)
        SELECT i, c FROM unnest(key_ids, key_checks) AS k(i, c) ON CONFLICT (key_id) DO NOTHING;
    INSERT INTO phone_hash_key (key_check) VALUES (hash_check) ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION sampark_claim_phone_keys(bytea, int[], bytea[]) FROM PUBLIC;
ALTER FUNCTION sampark_claim_phone_keys(bytea, int[], bytea[]) SECURITY DEFINER SET search_path = public, pg_temp;
GRANT EXECUTE ON FUNCTION sampark_claim_phone_keys(bytea, int[], bytea[]) TO sampark_ingest, sampark_dispatch;
