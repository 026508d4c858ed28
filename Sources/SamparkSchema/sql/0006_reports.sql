-- What the reports read besides the call counts (docs/reports.md): the aggregator keeps each
-- of these per IST day, campaign and the entry's unit (or per centre and shift), so a report
-- of a district, a state or the nation sums its subtree's rows and never scans the ledger.

-- The scheme a beneficiary's feedback was about, and the party worker's verification.
ALTER TABLE attempts
    ADD COLUMN scheme text,
    ADD COLUMN verification jsonb CHECK (verification IS NULL OR jsonb_typeof(verification) = 'object');

-- Polling-day answers besides "voted" (unit_aggregates.voted).
ALTER TABLE unit_aggregates
    ADD COLUMN not_yet integer NOT NULL DEFAULT 0,
    ADD COLUMN will_vote integer NOT NULL DEFAULT 0,
    ADD COLUMN talk_seconds bigint NOT NULL DEFAULT 0;

-- Beneficiary feedback by scheme.
CREATE TABLE scheme_tallies (
    day           date NOT NULL,
    campaign_id   bigint NOT NULL REFERENCES campaigns (id),
    unit_id       bigint NOT NULL REFERENCES org_units (id),
    scheme        text NOT NULL,
    received      integer NOT NULL DEFAULT 0,
    not_received  integer NOT NULL DEFAULT 0,
    partly        integer NOT NULL DEFAULT 0,
    PRIMARY KEY (day, campaign_id, unit_id, scheme)
);

-- Issue tags the agents noted.
CREATE TABLE issue_tallies (
    day          date NOT NULL,
    campaign_id  bigint NOT NULL REFERENCES campaigns (id),
    unit_id      bigint NOT NULL REFERENCES org_units (id),
    tag          text NOT NULL,
    calls        integer NOT NULL DEFAULT 0,
    PRIMARY KEY (day, campaign_id, unit_id, tag)
);

-- Each centre's work per shift (the shift of the centre's that the call started in).
CREATE TABLE shift_aggregates (
    day           date NOT NULL,
    centre_id     bigint NOT NULL REFERENCES call_centres (id),
    shift         text NOT NULL,
    attempts      integer NOT NULL DEFAULT 0,
    connected     integer NOT NULL DEFAULT 0,
    talk_seconds  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, centre_id, shift)
);

-- The first day each party worker was reached on a call (connected): committee coverage is
-- the committees with at least two people reached by the report's day.
CREATE TABLE people_reached (
    person_id        bigint PRIMARY KEY REFERENCES people (id),
    first_reached_on date NOT NULL
);

-- "Benefit not received": one escalation per call, for the district to follow up; published
-- as escalation.raised.v1 on sampark.reports, routing key escalation.<state>.<district>.
CREATE TABLE escalations (
    id           bigserial PRIMARY KEY,
    attempt_id   bigint NOT NULL UNIQUE REFERENCES offers (id),
    day          date NOT NULL,
    campaign_id  bigint NOT NULL REFERENCES campaigns (id),
    unit_id      bigint NOT NULL REFERENCES org_units (id),
    district_id  bigint REFERENCES org_units (id),
    contact_id   bigint REFERENCES contacts (id),
    scheme       text,
    raised_at    timestamptz NOT NULL,
    state        text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved'))
);
CREATE INDEX escalations_unit_day ON escalations (unit_id, day);

-- A party worker's corrections to their own record (role, unit, name, responsibilities), as
-- told on a call: recorded against the person, applied only once the district confirms.
CREATE TABLE person_corrections (
    id           bigserial PRIMARY KEY,
    attempt_id   bigint NOT NULL REFERENCES offers (id),
    person_id    bigint NOT NULL REFERENCES people (id),
    field        text NOT NULL CHECK (field IN ('role', 'unit', 'name', 'responsibilities')),
    recorded     text,
    proposed     text NOT NULL,
    day          date NOT NULL,
    state        text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'confirmed', 'rejected')),
    decided_at   timestamptz,
    UNIQUE (attempt_id, field)
);
CREATE INDEX person_corrections_pending ON person_corrections (person_id) WHERE state = 'pending';

-- Reports are idempotent: one id per scope and period (daily/<day>/<scope>,
-- dossier/<day>/<constituency>); a re-run replaces the row and publishes the same id.
ALTER TABLE reports ADD COLUMN report_id text, ADD COLUMN updated_at timestamptz;
CREATE UNIQUE INDEX reports_report_id ON reports (report_id);

-- The scheduled run of a day's reports, claimed once by whichever reporter copy gets there.
CREATE TABLE report_runs (
    day         date PRIMARY KEY,
    started_at  timestamptz NOT NULL DEFAULT now(),
    reports     integer NOT NULL
);
