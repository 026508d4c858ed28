-- Sampark's first schema: the organisation tree and its people, the numbers to call, the
-- centres, campaigns and their call lists, the ledger of calls and its daily sums, reports,
-- and the inbox and outbox that give every worker exactly-once handling.
-- Times are timestamptz (UTC inside); calling hours are IST times of day.

CREATE EXTENSION IF NOT EXISTS ltree;

-- The party's tree, zone to booth. Level names are data (zone, state, ..., booth; mandalam and
-- sector for another party). `path` is the chain of ids from the root, so subtree queries are
-- `path <@ $1` on a GiST index whatever characters the codes hold.
CREATE TABLE org_units (
    id          bigserial PRIMARY KEY,
    level       text NOT NULL CHECK (level <> ''),
    code        text NOT NULL UNIQUE CHECK (code <> ''),
    name        text NOT NULL CHECK (name <> ''),
    parent_id   bigint REFERENCES org_units (id),
    path        ltree NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX org_units_path ON org_units USING gist (path);
CREATE INDEX org_units_parent ON org_units (parent_id);

-- Office-bearers, workers, committee members and candidates.
CREATE TABLE people (
    id               bigserial PRIMARY KEY,
    name             text NOT NULL CHECK (name <> ''),
    phone            text NOT NULL CHECK (phone ~ '^\+91[6-9][0-9]{9}$'),
    role             text NOT NULL,
    unit_id          bigint NOT NULL REFERENCES org_units (id),
    committee        text,
    responsibilities text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX people_unit ON people (unit_id);

-- Voters and scheme beneficiaries, tied to a booth. Household members may share a phone, so
-- the phone is not unique; the same name at the same phone in the same booth is one contact.
CREATE TABLE contacts (
    id          bigserial PRIMARY KEY,
    phone       text NOT NULL CHECK (phone ~ '^\+91[6-9][0-9]{9}$'),
    name        text NOT NULL CHECK (name <> ''),
    booth_id    bigint NOT NULL REFERENCES org_units (id),
    language    text,
    epic        text,
    household   text,
    schemes     text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (phone, name, booth_id)
);
CREATE INDEX contacts_booth ON contacts (booth_id);
CREATE INDEX contacts_phone ON contacts (phone);

-- Votes per party per booth per past election; booth strength follows from them.
CREATE TABLE booth_results (
    booth_id  bigint NOT NULL REFERENCES org_units (id),
    election  text NOT NULL,
    party     text NOT NULL,
    votes     integer NOT NULL CHECK (votes >= 0),
    PRIMARY KEY (booth_id, election, party)
);

-- Call centres: the region (a subtree) they call into, their seats, their calling hours (IST).
CREATE TABLE call_centres (
    id          bigserial PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_-]+$'),
    name        text NOT NULL,
    region_id   bigint NOT NULL REFERENCES org_units (id),
    seats       integer NOT NULL CHECK (seats > 0),
    calls_from  time NOT NULL DEFAULT '09:00',
    calls_to    time NOT NULL DEFAULT '21:00',
    CHECK (calls_from < calls_to)
);

-- Poll date and phase per constituency; the silence period follows from the poll's close.
CREATE TABLE poll_calendar (
    constituency_id  bigint NOT NULL REFERENCES org_units (id),
    election         text NOT NULL,
    phase            integer NOT NULL CHECK (phase > 0),
    poll_date        date NOT NULL,
    poll_closes_at   timestamptz NOT NULL,
    PRIMARY KEY (constituency_id, election)
);

-- Numbers never to call again, by any campaign or centre, from the moment they asked.
CREATE TABLE opt_outs (
    phone         text PRIMARY KEY CHECK (phone ~ '^\+91[6-9][0-9]{9}$'),
    source        text NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT now()
);

-- Campaign material and scripts published by the central team, versioned.
CREATE TABLE materials (
    code          text NOT NULL,
    version       integer NOT NULL CHECK (version > 0),
    title         text NOT NULL,
    script        text NOT NULL,
    scope_id      bigint REFERENCES org_units (id),
    published_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (code, version)
);

CREATE TABLE campaigns (
    id             bigserial PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('relay', 'scheme_feedback', 'committee_reach', 'weak_booth', 'gotv')),
    name           text NOT NULL,
    scope_id       bigint NOT NULL REFERENCES org_units (id),
    material_code  text,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE call_lists (
    id           bigserial PRIMARY KEY,
    campaign_id  bigint NOT NULL REFERENCES campaigns (id),
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- One call to make. `state`: pending (due), offered (with a centre's agents), completed.
CREATE TABLE list_entries (
    id           bigserial PRIMARY KEY,
    list_id      bigint NOT NULL REFERENCES call_lists (id),
    contact_id   bigint REFERENCES contacts (id),
    person_id    bigint REFERENCES people (id),
    phone        text NOT NULL CHECK (phone ~ '^\+91[6-9][0-9]{9}$'),
    centre_id    bigint NOT NULL REFERENCES call_centres (id),
    state        text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'offered', 'completed', 'failed', 'suppressed')),
    attempts     integer NOT NULL DEFAULT 0,
    last_result  text,
    offered_at   timestamptz,
    next_attempt_at timestamptz,
    CHECK (contact_id IS NOT NULL OR person_id IS NOT NULL)
);
CREATE INDEX list_entries_list_state ON list_entries (list_id, state);
CREATE INDEX list_entries_due ON list_entries (centre_id, next_attempt_at) WHERE state = 'pending';

-- The ledger of calls: one row per outcome, recorded once (its message id is unique).
CREATE TABLE attempts (
    id          bigserial PRIMARY KEY,
    entry_id    bigint NOT NULL REFERENCES list_entries (id),
    centre_id   bigint NOT NULL REFERENCES call_centres (id),
    agent       text NOT NULL,
    result      text NOT NULL CHECK (result IN ('connected', 'no_answer', 'busy', 'wrong_number', 'opted_out')),
    has_voted   boolean,
    feedback    text,
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz NOT NULL,
    message_id  text NOT NULL UNIQUE,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attempts_entry ON attempts (entry_id);

-- Each IST day's calls per centre and campaign kind, added to as outcomes arrive.
CREATE TABLE daily_aggregates (
    day            date NOT NULL,
    centre_id      bigint NOT NULL REFERENCES call_centres (id),
    campaign_kind  text NOT NULL,
    attempts       integer NOT NULL DEFAULT 0,
    connected      integer NOT NULL DEFAULT 0,
    no_answer      integer NOT NULL DEFAULT 0,
    busy           integer NOT NULL DEFAULT 0,
    wrong_number   integer NOT NULL DEFAULT 0,
    opted_out      integer NOT NULL DEFAULT 0,
    voted          integer NOT NULL DEFAULT 0,
    PRIMARY KEY (day, centre_id, campaign_kind)
);

-- Reports as published.
CREATE TABLE reports (
    id                  bigserial PRIMARY KEY,
    kind                text NOT NULL,
    scope               text NOT NULL,
    day                 date NOT NULL,
    body                jsonb NOT NULL,
    request_message_id  text,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reports_day ON reports (day, kind, scope);

-- Message ids each consumer (a queue) has handled, written in the handling transaction: a
-- redelivered message finds its id here and changes nothing twice.
CREATE TABLE inbox (
    consumer     text NOT NULL,
    message_id   text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);

-- Messages a transaction decided to publish; the relay publishes them after the commit under
-- confirms and marks them. `claimed_until`/`claimed_by` let several relays share the work.
CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    exchange        text NOT NULL,
    routing_key     text NOT NULL,
    message_id      text NOT NULL UNIQUE,
    type            text NOT NULL,
    app_id          text,
    body            bytea NOT NULL,
    correlation_id  text,
    reply_to        text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    claimed_until   timestamptz,
    claimed_by      text,
    published_at    timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
