-- Upload sessions and the items they hold. Every item row carries its dataset and company, and
-- every query filters by them: one company can never reach another's rows.
CREATE TABLE datasets (
    id                       uuid        PRIMARY KEY,
    company_id               uuid        NOT NULL REFERENCES companies (id),
    status                   text        NOT NULL CHECK (status IN
                               ('receiving', 'validating', 'ready', 'rejected', 'training', 'trained', 'failed')),
    created_at               timestamptz NOT NULL,
    completed_at             timestamptz,
    -- Items in batches the ingest processor has taken in (stored or refused) ...
    received_customers       bigint      NOT NULL DEFAULT 0,
    received_orders          bigint      NOT NULL DEFAULT 0,
    received_credit_limits   bigint      NOT NULL DEFAULT 0,
    received_bureau_reports  bigint      NOT NULL DEFAULT 0,
    -- ... and rows actually stored.
    stored_customers         bigint      NOT NULL DEFAULT 0,
    stored_orders            bigint      NOT NULL DEFAULT 0,
    stored_credit_limits     bigint      NOT NULL DEFAULT 0,
    stored_bureau_reports    bigint      NOT NULL DEFAULT 0,
    rejected_batches         integer     NOT NULL DEFAULT 0,
    -- What the completion marker announced, as {customers, orders, credit_limits, bureau_reports}.
    announced                jsonb,
    rejection_reasons        jsonb       NOT NULL DEFAULT '[]'
);
CREATE INDEX datasets_company ON datasets (company_id, created_at DESC);

-- Every batch (and marker) processed, by the id its producer gave it: a redelivered batch finds
-- its row here and changes nothing.
CREATE TABLE dataset_batches (
    dataset_id   uuid        NOT NULL REFERENCES datasets (id),
    batch_id     text        NOT NULL,
    kind         text        NOT NULL,
    items        integer     NOT NULL,
    outcome      text        NOT NULL CHECK (outcome IN ('stored', 'refused', 'completion')),
    reason       text,
    processed_at timestamptz NOT NULL,
    PRIMARY KEY (dataset_id, batch_id)
);

-- Items whose key an earlier batch of the same dataset already used.
CREATE TABLE dataset_conflicts (
    dataset_id uuid NOT NULL REFERENCES datasets (id),
    kind       text NOT NULL,
    item_key   text NOT NULL,
    batch_id   text NOT NULL
);
CREATE INDEX dataset_conflicts_dataset ON dataset_conflicts (dataset_id);

CREATE TABLE customers (
    dataset_id       uuid    NOT NULL REFERENCES datasets (id),
    company_id       uuid    NOT NULL,
    id               text    NOT NULL,
    document         text,
    simples_nacional boolean,
    mei              boolean,
    final_consumer   boolean,
    founded_on       date,
    state            text,
    attributes       jsonb   NOT NULL,
    PRIMARY KEY (dataset_id, id)
);

CREATE TABLE credit_limits (
    dataset_id  uuid   NOT NULL REFERENCES datasets (id),
    company_id  uuid   NOT NULL,
    customer_id text   NOT NULL,
    valid_from  date   NOT NULL,
    limit_cents bigint NOT NULL CHECK (limit_cents >= 0),
    PRIMARY KEY (dataset_id, customer_id, valid_from)
);

CREATE TABLE bureau_reports (
    dataset_id             uuid        NOT NULL REFERENCES datasets (id),
    company_id             uuid        NOT NULL,
    customer_id            text        NOT NULL,
    queried_at             timestamptz NOT NULL,
    inquiries              integer,
    score                  integer,
    payment_habits         jsonb,
    supplier_relationships jsonb,
    negatives              jsonb,
    PRIMARY KEY (dataset_id, customer_id, queried_at)
);

CREATE TABLE orders (
    dataset_id        uuid        NOT NULL REFERENCES datasets (id),
    company_id        uuid        NOT NULL,
    id                text        NOT NULL,
    customer_id       text        NOT NULL,
    issued_at         timestamptz NOT NULL,
    amount_cents      bigint      NOT NULL CHECK (amount_cents >= 0),
    payment_term_days integer,
    installments      integer,
    attributes        jsonb       NOT NULL,
    outcome           text        CHECK (outcome IN ('approved', 'blocked')),
    PRIMARY KEY (dataset_id, id)
);
CREATE INDEX orders_customer ON orders (dataset_id, customer_id);
