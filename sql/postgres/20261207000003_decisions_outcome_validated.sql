-- The decisions recorded before `review` existed checked against the new rule (see
-- 20261207000001): VALIDATE holds a lock that lets the scorer's inserts go on meanwhile.
ALTER TABLE decisions VALIDATE CONSTRAINT decisions_outcome_check;
