-- The feedback-aggregator's write path (docs/feedback.md): every call is one ledger row and an
-- upsert into each aggregate. Their foreign keys cost a trigger and a KEY SHARE row lock per row
-- written (measured: about a quarter of a 500-call batch's time), and guard nothing the one
-- statement that writes them does not already guarantee: it takes every reference from a join
-- with the referenced rows, in the same transaction, and nothing deletes offers, entries,
-- campaigns, centres or units. Rare writes keep theirs (escalations, corrections, reached
-- people, turnout marks).
ALTER TABLE attempts
    DROP CONSTRAINT attempts_entry_id_fkey,
    DROP CONSTRAINT attempts_centre_id_fkey,
    DROP CONSTRAINT attempts_offer_id_fkey,
    DROP CONSTRAINT attempts_campaign_id_fkey,
    DROP CONSTRAINT attempts_unit_id_fkey;
ALTER TABLE daily_aggregates DROP CONSTRAINT daily_aggregates_centre_id_fkey;
ALTER TABLE unit_aggregates DROP CONSTRAINT unit_aggregates_campaign_id_fkey, DROP CONSTRAINT unit_aggregates_unit_id_fkey;
ALTER TABLE answer_tallies DROP CONSTRAINT answer_tallies_campaign_id_fkey, DROP CONSTRAINT answer_tallies_unit_id_fkey;
ALTER TABLE scheme_tallies DROP CONSTRAINT scheme_tallies_campaign_id_fkey, DROP CONSTRAINT scheme_tallies_unit_id_fkey;
ALTER TABLE issue_tallies DROP CONSTRAINT issue_tallies_campaign_id_fkey, DROP CONSTRAINT issue_tallies_unit_id_fkey;
ALTER TABLE shift_aggregates DROP CONSTRAINT shift_aggregates_centre_id_fkey;
