-- The first decision for each order, so a repeated request gets the same answer (marked as a
-- repeat) instead of a new one from a model that may have changed since.
CREATE TABLE decisions (
    company_id  uuid        NOT NULL REFERENCES companies (id),
    order_id    text        NOT NULL,
    request_id  text        NOT NULL,
    -- The decision record as first produced (decision, probability, reasons, ...).
    decision    jsonb       NOT NULL,
    decided_at  timestamptz NOT NULL,
    PRIMARY KEY (company_id, order_id)
);

-- The scorer reads one customer's stored facts across all of a company's datasets. Item keys
-- lead with dataset_id, which cannot serve that; each index below costs every ingest insert,
-- so there is one per item kind the features use and nothing more (no INCLUDE columns: the
-- rows of one customer are few, fetching them from the heap is cheap).
CREATE INDEX customers_by_company      ON customers      (company_id, id);
CREATE INDEX credit_limits_by_customer ON credit_limits  (company_id, customer_id);
CREATE INDEX bureau_reports_by_customer ON bureau_reports (company_id, customer_id);
-- The order history features (count, amount, blocked share of earlier orders) need this one.
CREATE INDEX orders_by_customer        ON orders         (company_id, customer_id);
