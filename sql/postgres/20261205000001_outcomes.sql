-- What happened to the orders aval decided, as each company reports it: one row per order and
-- kind family, `repayment` (paid_on_time, paid_late, defaulted, written_off) or `override` (an
-- analyst overrode the decision), so an order has at most one of each and the two never hide
-- each other. The key makes a report an upsert: a report replaces the row of its family when
-- it occurred later, or at the same instant with other content (a correction); the same report
-- again, or an older one, changes nothing (`store/src/outcomes.rs`).
CREATE TABLE outcomes (
    company_id  uuid        NOT NULL,
    order_id    text        NOT NULL,
    -- The decision's request id (`decisions.request_id`), whichever way the report named it.
    request_id  text        NOT NULL,
    -- The decision's time, copied: the listing's newest-first order, which no report changes,
    -- so a page cursor stays valid while outcomes are replaced.
    decided_at  timestamptz NOT NULL,
    family      text        NOT NULL CHECK (family IN ('repayment', 'override')),
    kind        text        NOT NULL CHECK (
        (family = 'repayment' AND kind IN ('paid_on_time', 'paid_late', 'defaulted', 'written_off'))
        OR (family = 'override' AND kind = 'override')
    ),
    -- The kind's own facts: `days_late` of paid_late; `direction` and `reason_code` of an
    -- override; `{}` for the others.
    details     jsonb       NOT NULL DEFAULT '{}',
    -- When it happened, by the company's clock; the later of two reports wins.
    occurred_at timestamptz NOT NULL,
    -- When aval stored this content.
    reported_at timestamptz NOT NULL,
    PRIMARY KEY (company_id, order_id, family),
    -- Only decided orders have outcomes (so only a company's own); decisions are never deleted.
    FOREIGN KEY (company_id, order_id) REFERENCES decisions (company_id, order_id)
);

-- The listing walks one company's outcomes newest decision first; `order_id` alone is served by
-- the primary key.
CREATE INDEX outcomes_newest_first ON outcomes (company_id, decided_at DESC, order_id DESC, family DESC);

-- Each company's definition of a bad order; a company without a row has the default (90 days
-- past due within 180 days, `aval_core::outcome::BadDefinition`).
CREATE TABLE outcome_definitions (
    company_id    uuid        PRIMARY KEY REFERENCES companies (id),
    days_past_due integer     NOT NULL CHECK (days_past_due BETWEEN 1 AND 360),
    within_days   integer     NOT NULL CHECK (within_days BETWEEN 30 AND 1095 AND within_days >= days_past_due),
    updated_at    timestamptz NOT NULL
);
