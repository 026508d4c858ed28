-- Dispatch as docs/dispatch.md describes it: campaigns carry their pacing, attempt limit,
-- calling window and dialing mode; each offer is a row (its id is the attempt id an outcome
-- names), at most one live per entry; agents' presence per centre; refusals counted by reason.

-- Campaign dispatch settings, fixed when the campaign is created (docs/lists.md).
--   pacing_ratio: live offers per available agent (1 for agent desks, more for a gateway);
--   max_attempts: calls (outcomes) an entry may take;
--   calls_from/calls_to: IST hours narrowing the lawful window (NULL: the whole window);
--   dialing: 'preview' (agent desks: the number is masked in the offer) or 'gateway'
--   (a telephony gateway dials: the offer carries the full number).
ALTER TABLE campaigns
    ADD COLUMN pacing_ratio real NOT NULL DEFAULT 1 CHECK (pacing_ratio >= 1 AND pacing_ratio <= 20),
    ADD COLUMN max_attempts integer NOT NULL DEFAULT 3 CHECK (max_attempts BETWEEN 1 AND 20),
    ADD COLUMN calls_from time,
    ADD COLUMN calls_to time,
    ADD COLUMN dialing text NOT NULL DEFAULT 'preview' CHECK (dialing IN ('preview', 'gateway')),
    ADD CONSTRAINT campaigns_window CHECK ((calls_from IS NULL) = (calls_to IS NULL) AND (calls_from IS NULL OR calls_from < calls_to));

-- Entry states (docs/dispatch.md): pending (due now), offered (one live offer), waiting (until
-- next_attempt_at: a retry, a callback, or a gate that opens later), completed, suppressed
-- (a gate or an outcome ended it: last_result says which), exhausted (max_attempts reached).
ALTER TABLE list_entries DROP CONSTRAINT list_entries_state_check;
ALTER TABLE list_entries ADD CONSTRAINT list_entries_state_check
    CHECK (state IN ('pending', 'offered', 'waiting', 'completed', 'suppressed', 'exhausted'));
-- Claims read a centre's due entries of one list in priority order.
DROP INDEX list_entries_due;
CREATE INDEX list_entries_claim ON list_entries (centre_id, list_id, priority, id) WHERE state = 'pending';
CREATE INDEX list_entries_waiting ON list_entries (next_attempt_at) WHERE state = 'waiting';

-- One row per offer made; its id is the attempt id. At most one live offer per entry: the
-- database refuses a second, whatever any dispatcher does. `weight` is the share of an agent
-- the offer holds (1 / the campaign's pacing ratio). An offer is live until an outcome
-- answers it or it expires (`reclaim_at`: its expiry plus the longest call, after which the
-- entry returns to the pool).
CREATE TABLE offers (
    id           bigserial PRIMARY KEY,
    entry_id     bigint NOT NULL REFERENCES list_entries (id),
    centre_id    bigint NOT NULL REFERENCES call_centres (id),
    weight       real NOT NULL CHECK (weight > 0 AND weight <= 1),
    offered_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    reclaim_at   timestamptz NOT NULL,
    state        text NOT NULL DEFAULT 'live' CHECK (state IN ('live', 'answered', 'expired')),
    settled_at   timestamptz,
    disposition  text,
    agent        text
);
CREATE UNIQUE INDEX offers_one_live_per_entry ON offers (entry_id) WHERE state = 'live';
CREATE INDEX offers_live_by_centre ON offers (centre_id) WHERE state = 'live';
CREATE INDEX offers_reclaim ON offers (reclaim_at) WHERE state = 'live';
CREATE INDEX offers_entry ON offers (entry_id);

-- Agents' presence per centre, from agent.presence.v1; the latest event (by its time) wins.
CREATE TABLE agents (
    centre_id   bigint NOT NULL REFERENCES call_centres (id),
    agent       text NOT NULL CHECK (agent <> ''),
    state       text NOT NULL CHECK (state IN ('available', 'paused', 'logged_out')),
    shift       text,
    changed_at  timestamptz NOT NULL,
    PRIMARY KEY (centre_id, agent)
);
CREATE INDEX agents_available ON agents (centre_id) WHERE state = 'available';

-- Calls the lawful-calling gates refused at the moment of dispatch, per IST day, centre,
-- campaign and reason (docs/dispatch.md says when each is counted).
CREATE TABLE dispatch_refusals (
    day          date NOT NULL,
    centre_id    bigint NOT NULL REFERENCES call_centres (id),
    campaign_id  bigint NOT NULL REFERENCES campaigns (id),
    reason       text NOT NULL,
    calls        bigint NOT NULL CHECK (calls >= 0),
    PRIMARY KEY (day, centre_id, campaign_id, reason)
);

-- The ledger names the offer (attempt) an outcome answers, and the dispositions desks report.
ALTER TABLE attempts DROP CONSTRAINT attempts_result_check;
ALTER TABLE attempts ADD CONSTRAINT attempts_result_check CHECK (result IN (
    'connected', 'no_answer', 'busy', 'switched_off', 'not_reachable', 'wrong_number', 'call_back', 'refused',
    'language_barrier', 'opted_out'));
ALTER TABLE attempts ADD COLUMN offer_id bigint REFERENCES offers (id);
CREATE UNIQUE INDEX attempts_offer ON attempts (offer_id) WHERE offer_id IS NOT NULL;

-- The day's aggregates count every disposition a desk can report.
ALTER TABLE daily_aggregates
    ADD COLUMN switched_off integer NOT NULL DEFAULT 0,
    ADD COLUMN not_reachable integer NOT NULL DEFAULT 0,
    ADD COLUMN call_back integer NOT NULL DEFAULT 0,
    ADD COLUMN refused integer NOT NULL DEFAULT 0,
    ADD COLUMN language_barrier integer NOT NULL DEFAULT 0;
