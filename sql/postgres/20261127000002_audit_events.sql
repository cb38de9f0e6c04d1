-- The audit log: append-only, one hash chain per company (see aval_core::audit::chain_hash).
CREATE TABLE audit_events (
    company_id  uuid        NOT NULL,
    seq         bigint      NOT NULL CHECK (seq >= 1),
    event_id    uuid        NOT NULL UNIQUE,
    kind        text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    actor       text        NOT NULL,
    details     jsonb       NOT NULL,
    prev_hash   bytea       NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash        bytea       NOT NULL CHECK (octet_length(hash) = 32),
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, seq)
);

-- The tip of each chain, locked while appending so two writers can never fork a chain.
CREATE TABLE audit_heads (
    company_id uuid   PRIMARY KEY,
    seq        bigint NOT NULL,
    hash       bytea  NOT NULL
);

-- Append-only: refuse edits and deletions even from the application role.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END $$;

CREATE TRIGGER audit_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
