-- What an analyst filters and lists decisions by, as typed columns beside the decision record
-- (the JSON stays the whole answer, for the detail call and for repeats). The scorer fills them
-- in its one insert per batch; existing rows are filled from their JSON here, except
-- `customer_id`, which the decision record never carried: NULL for decisions recorded before
-- this migration.
ALTER TABLE decisions
    ADD COLUMN customer_id   text,
    ADD COLUMN outcome       text CHECK (outcome IN ('approved', 'rejected')),
    ADD COLUMN model_version integer,
    ADD COLUMN probability   double precision,
    ADD COLUMN threshold     double precision,
    -- The transaction that inserted the row. A page cursor carries the snapshot of the first
    -- page's statement; later pages keep only rows visible in it (`pg_visible_in_snapshot`), so
    -- a decision committed meanwhile never enters a listing already begun, even one whose
    -- `decided_at` (taken by the scorer before its insert commits) sorts among older rows.
    -- Existing rows get this migration's transaction, visible to every later snapshot.
    ADD COLUMN recorded_xid  xid8 NOT NULL DEFAULT pg_current_xact_id();

UPDATE decisions SET
    outcome       = decision ->> 'decision',
    model_version = (decision ->> 'model_version')::integer,
    probability   = (decision ->> 'probability')::double precision,
    threshold     = (decision ->> 'threshold')::double precision;

ALTER TABLE decisions
    ALTER COLUMN outcome SET NOT NULL,
    ALTER COLUMN model_version SET NOT NULL,
    ALTER COLUMN probability SET NOT NULL,
    ALTER COLUMN threshold SET NOT NULL;

-- Each index costs every decision the scorer records, so two and no more. The list and the
-- export walk one company's decisions newest first by (decided_at, order_id), the keyset of the
-- cursor (order_id is unique within a company: the primary key); the other filters are applied
-- to the rows this walk finds, and `order_id` alone is the primary key. The detail call finds
-- a decision by its request id (not unique: a Kafka producer chooses its own request ids).
CREATE INDEX decisions_newest_first ON decisions (company_id, decided_at DESC, order_id DESC);
CREATE INDEX decisions_by_request   ON decisions (company_id, request_id);
