-- Call lists as docs/lists.md describes them: campaigns known by a code with their own
-- suppression settings, one list per request id (its spec and its answer kept), entries with
-- a priority and the material they relay, and the indexes the suppression rules read.

-- Campaigns: a code the requests name, a candidates kind, the recall window and household cap.
-- The scope moves to each list (a campaign's lists may cover different subtrees).
ALTER TABLE campaigns DROP CONSTRAINT campaigns_kind_check;
ALTER TABLE campaigns ADD CONSTRAINT campaigns_kind_check
    CHECK (kind IN ('committee_reach', 'relay', 'scheme_feedback', 'weak_booth', 'gotv', 'candidates'));
ALTER TABLE campaigns
    ADD COLUMN code text,
    ADD COLUMN recall_days integer NOT NULL DEFAULT 0 CHECK (recall_days >= 0),
    ADD COLUMN household_cap integer NOT NULL DEFAULT 1 CHECK (household_cap >= 1),
    ALTER COLUMN scope_id DROP NOT NULL;
UPDATE campaigns SET code = 'campaign-' || id;
ALTER TABLE campaigns ALTER COLUMN code SET NOT NULL;
ALTER TABLE campaigns ADD CONSTRAINT campaigns_code_key UNIQUE (code);

-- A list is written whole in one transaction with its answer (`ready`, the list.ready body),
-- so no reader ever sees part of one. `request_id` makes a repeated request return the list
-- already built; `spec` is the request as it came, to refuse the same id for another request.
ALTER TABLE call_lists
    ADD COLUMN request_id text,
    ADD COLUMN scope_id bigint REFERENCES org_units (id),
    ADD COLUMN spec jsonb,
    ADD COLUMN ready jsonb,
    ADD COLUMN entries integer,
    ADD COLUMN hash text;
ALTER TABLE call_lists ADD CONSTRAINT call_lists_request_id_key UNIQUE (request_id);
CREATE INDEX call_lists_campaign ON call_lists (campaign_id);

-- Entries: lower priority first (weakest booth, lagging turnout); the material an entry
-- relays is the version current for its unit when the list was built.
ALTER TABLE list_entries
    ADD COLUMN priority integer NOT NULL DEFAULT 0,
    ADD COLUMN material_code text,
    ADD COLUMN material_version integer,
    ADD CONSTRAINT list_entries_material FOREIGN KEY (material_code, material_version) REFERENCES materials (code, version);

-- Suppression reads: numbers called within N days, numbers found wrong.
CREATE INDEX attempts_started ON attempts (started_at);
CREATE INDEX attempts_wrong_number ON attempts (entry_id) WHERE result = 'wrong_number';
-- Whether a person was reached before (committee coverage prefers those not yet reached).
CREATE INDEX list_entries_person ON list_entries (person_id) WHERE person_id IS NOT NULL;
