-- A telephony gateway's offer carries the full number. Its body is now written with the phone
-- empty and last, and the number beside it as the list entry holds it, sealed
-- (outbox.phone_sealed); the relay opens the number and puts it in only as it publishes. No
-- table holds the number in clear, as before, and the dispatcher no longer takes every
-- gateway body out of the database to seal it whole and write it back (one statement instead
-- of two per claim, one seal instead of three per offer).
ALTER TABLE outbox ADD COLUMN phone_sealed bytea;

-- One form only: the offers written before this, bodies sealed whole (`sealed`), go. One not
-- yet published leaves its offer live with no message; the dispatcher reclaims it once its
-- reclaim time passes (its expiry plus the longest call), as any offer no outcome answers,
-- and offers the entry again in the new form: nothing is called twice, nothing is lost.
-- Published ones were only kept for inspection.
DELETE FROM outbox WHERE sealed;
ALTER TABLE outbox DROP COLUMN sealed;
