-- A foreign key on every item row costs a check per row: at 500 rows a batch that was most of
-- the ingest time (each check scanned the dataset row's many versions). Item rows are only
-- ever inserted by the ingest sink, in the transaction that has just locked their dataset row,
-- so the reference holds by construction; the ledger and dataset tables keep their keys.
ALTER TABLE customers      DROP CONSTRAINT customers_dataset_id_fkey;
ALTER TABLE credit_limits  DROP CONSTRAINT credit_limits_dataset_id_fkey;
ALTER TABLE bureau_reports DROP CONSTRAINT bureau_reports_dataset_id_fkey;
ALTER TABLE orders         DROP CONSTRAINT orders_dataset_id_fkey;
