-- Drift: what a model version's training orders looked like, and what each decision's looked
-- like, so the two can be compared (`GET /v1/monitoring/drift`).

-- The version's training distributions (aval_core::monitoring::DriftReference, as JSON): the
-- cells of the score and of each feature, and the training sample's counts in them. NULL for
-- versions trained before they were kept. Versions stay immutable: the trainer stores the
-- column with the version.
ALTER TABLE models ADD COLUMN drift_reference jsonb;

-- The decided order's features, one float8 each in the order of its model version's features
-- (little-endian, packed): NULL for decisions recorded before.
ALTER TABLE decisions ADD COLUMN drift_values bytea;

-- No index of its own: a version's decisions of a window are found by the company's walk
-- through time (`decisions_newest_first`), and each index costs every decision recorded.
