-- Training runs are visible from the moment their request is produced: `queued` (by whoever
-- produces the request, in the same transaction as what made it), `running` with its stage
-- and progress while the trainer works, then `finished` (with the model version and whether
-- training activated it) or `failed` (with the reason). The former `training` is `running`,
-- the former `trained` is `finished`.
ALTER TABLE training_runs DROP CONSTRAINT training_runs_status_check;
UPDATE training_runs SET status = 'running' WHERE status = 'training';
UPDATE training_runs SET status = 'finished' WHERE status = 'trained';
ALTER TABLE training_runs
    ADD CONSTRAINT training_runs_status_check
        CHECK (status IN ('queued', 'running', 'finished', 'failed')),
    ADD COLUMN queued_at timestamptz,
    -- Where the trainer is: a stage name and the share of the whole run done, 0..1.
    ADD COLUMN stage text,
    ADD COLUMN progress double precision CHECK (progress BETWEEN 0 AND 1),
    -- What training made of the version it stored: `activated`, or kept as a `candidate`.
    ADD COLUMN outcome text CHECK (outcome IN ('activated', 'candidate')),
    ALTER COLUMN started_at DROP NOT NULL;
UPDATE training_runs SET queued_at = started_at;
UPDATE training_runs SET progress = 1 WHERE status = 'finished';
ALTER TABLE training_runs ALTER COLUMN queued_at SET NOT NULL;

-- The company's runs newest first, paged by (queued_at, request_id).
CREATE INDEX training_runs_company ON training_runs (company_id, queued_at DESC, request_id DESC);
-- A dataset's runs.
CREATE INDEX training_runs_datasets ON training_runs USING gin (dataset_ids);

-- The company's datasets newest first, paged by (created_at, id): the id breaks ties.
DROP INDEX datasets_company;
CREATE INDEX datasets_company ON datasets (company_id, created_at DESC, id DESC);
