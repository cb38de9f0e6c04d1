-- Model versions: immutable once written, numbered 1, 2, 3... per company.
CREATE TABLE models (
    company_id          uuid        NOT NULL REFERENCES companies (id),
    version             integer     NOT NULL CHECK (version >= 1),
    learner             text        NOT NULL,
    -- The whole trained model (learner, feature specification, threshold, metrics), as JSON.
    artifact            bytea       NOT NULL,
    threshold           double precision NOT NULL,
    metrics             jsonb       NOT NULL,
    dataset_ids         uuid[]      NOT NULL,
    training_request_id text        NOT NULL,
    created_at          timestamptz NOT NULL,
    PRIMARY KEY (company_id, version),
    -- A training request yields at most one version, however often it is delivered.
    UNIQUE (company_id, training_request_id)
);

CREATE FUNCTION models_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'model versions are immutable';
END $$;

CREATE TRIGGER models_no_update_or_delete
    BEFORE UPDATE OR DELETE ON models
    FOR EACH ROW EXECUTE FUNCTION models_immutable();

-- Which version decides for each company (absent: no model yet).
CREATE TABLE active_models (
    company_id   uuid        PRIMARY KEY REFERENCES companies (id),
    version      integer     NOT NULL,
    activated_at timestamptz NOT NULL,
    activated_by text        NOT NULL,
    FOREIGN KEY (company_id, version) REFERENCES models (company_id, version)
);

-- Every training request seen, so a redelivered one is recognised and a failure is explained.
CREATE TABLE training_runs (
    request_id    text        PRIMARY KEY,
    company_id    uuid        NOT NULL REFERENCES companies (id),
    dataset_ids   uuid[]      NOT NULL,
    status        text        NOT NULL CHECK (status IN ('training', 'trained', 'failed')),
    model_version integer,
    reason        text,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz
);

ALTER TABLE datasets
    ADD COLUMN model_version  integer,
    ADD COLUMN failure_reason text;
