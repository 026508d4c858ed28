-- Room on every page of the aggregates for the next version of each row. Every batch of
-- outcomes updates the rows of the units, shifts and answers it touched; on full pages
-- (fillfactor 100) about three updates in four could not stay on the row's page, and each
-- of those wrote a new entry into the primary key as well (measured in the feedback bench:
-- 18,163 of 68,571 updates of unit_aggregates were heap-only). With space left, an update
-- that changes no key column stays on its page and touches no index. New pages get the room;
-- existing ones as they are rewritten.
ALTER TABLE unit_aggregates SET (fillfactor = 50);
ALTER TABLE shift_aggregates SET (fillfactor = 50);
ALTER TABLE answer_tallies SET (fillfactor = 50);
ALTER TABLE scheme_tallies SET (fillfactor = 50);
ALTER TABLE issue_tallies SET (fillfactor = 50);
