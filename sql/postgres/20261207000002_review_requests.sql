-- A company's requests, on behalf of its customers, that a person review a decision aval made
-- (LGPD art. 20: the right to a review of a decision taken solely by automated means). One per
-- decided order; never changed. A request is answered by the analyst's override outcome of the
-- order (`outcomes`, family `override`) reported at or after it: derived when read, so the
-- outcomes' write path (HTTP and Kafka alike) needs to know nothing of requests.
CREATE TABLE review_requests (
    company_id   uuid        NOT NULL,
    order_id     text        NOT NULL,
    -- The decision's request id, as the company named it.
    request_id   text        NOT NULL,
    requested_at timestamptz NOT NULL,
    -- `company:<id>`: whoever asked with the company's token.
    requested_by text        NOT NULL,
    -- The customer's words, as the company passed them on (up to 1,000 characters).
    reason       text,
    PRIMARY KEY (company_id, order_id),
    FOREIGN KEY (company_id, order_id) REFERENCES decisions (company_id, order_id)
);

-- The queue: a company's requests newest first.
CREATE INDEX review_requests_newest_first ON review_requests (company_id, requested_at DESC, order_id DESC);
