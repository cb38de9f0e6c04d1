-- The keys that sign and verify company tokens when AVAL_JWT_SECRET is unset (core/src/token.rs,
-- store/src/jwt_keys.rs). The first process to start generates one; `aval admin
-- rotate-jwt-key` adds a newer one, which signs from then on while the older ones keep
-- verifying; a retired key verifies nothing. `kid` is derived from the secret. No CHECK on
-- the secret: a failed check would echo the row, secret included, in the error.
CREATE TABLE jwt_keys (
    kid        text        PRIMARY KEY,
    secret     bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    retired_at timestamptz
);

-- Every process that verifies tokens reads the key set again when it changes, whoever changes
-- it: the payload is empty, the listeners read the whole (small) table.
CREATE FUNCTION notify_jwt_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('aval_jwt_keys', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER jwt_keys_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON jwt_keys
    FOR EACH STATEMENT EXECUTE FUNCTION notify_jwt_keys_changed();

-- Every token issued (at registration, and by POST /v1/companies/me/tokens), so a company can
-- list and revoke its own. Never the token string: only its claims. Revocations stay in
-- revoked_tokens, which also holds tokens issued before this table existed.
CREATE TABLE tokens (
    jti        uuid        PRIMARY KEY,
    company_id uuid        NOT NULL REFERENCES companies (id),
    kid        text        NOT NULL,
    label      text        NOT NULL DEFAULT '',
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX tokens_by_company ON tokens (company_id, issued_at);
