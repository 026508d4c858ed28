-- A telephony gateway's offer carries the full number. Its body is now written with the phone
-- empty and last, and the number beside it as the list entry holds it, sealed
-- (outbox.phone_sealed); the relay opens the number and puts it in only as it publishes. No
-- table holds the number in clear, as before, and the dispatcher no longer takes every
-- gateway body out of the database to seal it whole and write it back (one statement instead
-- of two per claim, one seal instead of three per offer). Rows written before this, whole
-- bodies sealed (`sealed`), are still opened whole by the relay.
ALTER TABLE outbox ADD COLUMN phone_sealed bytea;
