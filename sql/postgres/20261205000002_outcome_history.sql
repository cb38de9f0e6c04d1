-- Every outcome as it was stored, and every definition of a bad order as it was set, kept, so
-- that live performance computes again to the same answer for any past `as_of`: `outcomes`
-- holds only the latest of each order and family, `outcome_definitions` only the one in force.
CREATE TABLE outcome_history (
    -- Orders two changes stored at the same instant (two records of one batch about the same
    -- order apply in turn).
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company_id  uuid        NOT NULL,
    order_id    text        NOT NULL,
    family      text        NOT NULL,
    kind        text        NOT NULL,
    details     jsonb       NOT NULL,
    occurred_at timestamptz NOT NULL,
    reported_at timestamptz NOT NULL,
    FOREIGN KEY (company_id, order_id) REFERENCES decisions (company_id, order_id)
);

-- Performance as of an instant reads each decision's latest repayment stored by then.
CREATE INDEX outcome_history_latest
    ON outcome_history (company_id, order_id, family, reported_at DESC, id DESC);

INSERT INTO outcome_history (company_id, order_id, family, kind, details, occurred_at, reported_at)
SELECT company_id, order_id, family, kind, details, occurred_at, reported_at
FROM outcomes ORDER BY reported_at;

CREATE TABLE outcome_definition_history (
    company_id    uuid        NOT NULL REFERENCES companies (id),
    days_past_due integer     NOT NULL,
    within_days   integer     NOT NULL,
    -- In force from this instant until the next row's.
    valid_from    timestamptz NOT NULL,
    PRIMARY KEY (company_id, valid_from)
);

INSERT INTO outcome_definition_history (company_id, days_past_due, within_days, valid_from)
SELECT company_id, days_past_due, within_days, updated_at FROM outcome_definitions;
