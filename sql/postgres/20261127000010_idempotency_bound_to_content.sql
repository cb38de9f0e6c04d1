-- An upload batch's id (the HTTP Idempotency-Key, or the batch_id of a record produced straight
-- to Kafka) is bound to the item kind and the items first sent under it (SHA-256 of the
-- validated items: aval_core::fingerprint::batch_fingerprint), by whoever sees it first: the
-- gateway before it produces the batch, the ingest processor for a Kafka producer's batch. The
-- same id with other content is refused (422 over HTTP, the dead-letter topic over Kafka)
-- instead of being taken for a redelivery and dropped. `dataset_batches` stays the ledger of
-- what was processed; this table says what each id stands for. No foreign key to datasets: its
-- check would take a share lock on the dataset row, which the ingest sink holds FOR UPDATE
-- while it stores a batch, so every upload would wait for the batch before it to be stored.
-- Rows are inserted only for a dataset just read as the company's (gateway) or locked (sink).
CREATE TABLE dataset_batch_ids (
    dataset_id  uuid        NOT NULL,
    batch_id    text        NOT NULL,
    kind        text        NOT NULL,
    fingerprint bytea       NOT NULL CHECK (length(fingerprint) = 32),
    bound_at    timestamptz NOT NULL,
    PRIMARY KEY (dataset_id, batch_id)
);

-- The fingerprint of the order each decision was made for (aval_core::fingerprint::
-- order_fingerprint): the same order id with other content is a conflict, not a repeat. NULL
-- for decisions recorded before this column existed; their repeats are taken as true repeats.
ALTER TABLE decisions ADD COLUMN order_fingerprint bytea;
