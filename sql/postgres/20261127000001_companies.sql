-- Tenants. A company is only ever reached through its own token, so the id is a random UUID
-- that reveals nothing about other tenants.
CREATE TABLE companies (
    id             uuid        PRIMARY KEY,
    name           text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    email          text        NOT NULL CHECK (email = lower(email)),
    registered_at  timestamptz NOT NULL,
    deactivated_at timestamptz
);

-- One registration per mailbox.
CREATE UNIQUE INDEX companies_email_unique ON companies (email);

-- Tokens withdrawn before they expire, by their `jti` claim.
CREATE TABLE revoked_tokens (
    jti        uuid        PRIMARY KEY,
    company_id uuid        NOT NULL REFERENCES companies (id),
    revoked_at timestamptz NOT NULL,
    reason     text        NOT NULL DEFAULT ''
);
