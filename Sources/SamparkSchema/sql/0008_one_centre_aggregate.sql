-- One aggregate per centre, not two: `shift_aggregates` (per IST day, centre and shift) now
-- counts every disposition, as `daily_aggregates` (per day, centre and campaign kind) did.
-- No report read `daily_aggregates` any more (a report's calls by campaign come from
-- `unit_aggregates`, its centres' work from the shifts), yet every batch of outcomes upserted
-- it. The centres' counts by disposition are kept, summed over the day's shifts.
ALTER TABLE shift_aggregates
    ADD COLUMN no_answer integer NOT NULL DEFAULT 0,
    ADD COLUMN busy integer NOT NULL DEFAULT 0,
    ADD COLUMN switched_off integer NOT NULL DEFAULT 0,
    ADD COLUMN not_reachable integer NOT NULL DEFAULT 0,
    ADD COLUMN wrong_number integer NOT NULL DEFAULT 0,
    ADD COLUMN call_back integer NOT NULL DEFAULT 0,
    ADD COLUMN refused integer NOT NULL DEFAULT 0,
    ADD COLUMN language_barrier integer NOT NULL DEFAULT 0,
    ADD COLUMN opted_out integer NOT NULL DEFAULT 0,
    ADD COLUMN voted integer NOT NULL DEFAULT 0;
DROP TABLE daily_aggregates;
