-- The feedback-aggregator's record (docs/feedback.md): the ledger keeps what each call
-- reported, and the aggregates are kept per IST day, campaign and the entry's unit (a voter's
-- booth, a person's unit), so a report of any unit sums its subtree's rows (a few thousand
-- for a district) instead of scanning the ledger.

ALTER TABLE attempts
    ADD COLUMN campaign_id bigint REFERENCES campaigns (id),
    ADD COLUMN unit_id bigint REFERENCES org_units (id),
    ADD COLUMN day date,
    ADD COLUMN talk_seconds integer CHECK (talk_seconds >= 0),
    ADD COLUMN callback_at timestamptz,
    ADD COLUMN answers jsonb CHECK (answers IS NULL OR jsonb_typeof(answers) = 'object'),
    ADD COLUMN issue_tags text[],
    ADD COLUMN scheme_feedback text CHECK (scheme_feedback IN ('received', 'not_received', 'partly')),
    ADD COLUMN turnout text CHECK (turnout IN ('voted', 'not_yet', 'will_vote'));

-- Per IST day, campaign and unit: calls by disposition, voters who said they voted,
-- beneficiaries who said the benefit did not reach them.
CREATE TABLE unit_aggregates (
    day               date NOT NULL,
    campaign_id       bigint NOT NULL REFERENCES campaigns (id),
    unit_id           bigint NOT NULL REFERENCES org_units (id),
    attempts          integer NOT NULL DEFAULT 0,
    connected         integer NOT NULL DEFAULT 0,
    no_answer         integer NOT NULL DEFAULT 0,
    busy              integer NOT NULL DEFAULT 0,
    switched_off      integer NOT NULL DEFAULT 0,
    not_reachable     integer NOT NULL DEFAULT 0,
    wrong_number      integer NOT NULL DEFAULT 0,
    call_back         integer NOT NULL DEFAULT 0,
    refused           integer NOT NULL DEFAULT 0,
    language_barrier  integer NOT NULL DEFAULT 0,
    opted_out         integer NOT NULL DEFAULT 0,
    voted             integer NOT NULL DEFAULT 0,
    benefit_not_received integer NOT NULL DEFAULT 0,
    PRIMARY KEY (day, campaign_id, unit_id)
);

-- Survey answers, counted the same way: per day, campaign, unit, question and answer.
CREATE TABLE answer_tallies (
    day          date NOT NULL,
    campaign_id  bigint NOT NULL REFERENCES campaigns (id),
    unit_id      bigint NOT NULL REFERENCES org_units (id),
    question     text NOT NULL,
    answer       text NOT NULL,
    answers      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (day, campaign_id, unit_id, question, answer)
);
