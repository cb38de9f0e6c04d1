-- Each company's decision policies (`aval_core::policy::Policy`: hard rules, a cut-off, refer
-- bands), one row per version from 1. The newest version is in force; an earlier one is put
-- back in force by saving it again, as a new version, so which policy decided when is the
-- version each decision records. Versions are never changed or deleted.
CREATE TABLE decision_policies (
    company_id    uuid        NOT NULL REFERENCES companies (id),
    version       integer     NOT NULL CHECK (version >= 1),
    definition    jsonb       NOT NULL,
    -- The model version it was checked against when saved (its features and levels).
    model_version integer     NOT NULL,
    created_at    timestamptz NOT NULL,
    -- `company:<id>`: whoever saved it with the company's token.
    created_by    text        NOT NULL,
    PRIMARY KEY (company_id, version)
);

-- A policy's refer bands send orders to a person. Added NOT VALID, so the scorer's inserts are
-- held only for the moment of the change, not while every decision is read; the next
-- migration validates the rows already there under a lock that lets inserts go on.
ALTER TABLE decisions DROP CONSTRAINT decisions_outcome_check;
ALTER TABLE decisions ADD CONSTRAINT decisions_outcome_check
    CHECK (outcome IN ('approved', 'rejected', 'review')) NOT VALID;
