-- Processes remember which tokens they granted access to (store/src/access.rs) and must
-- forget a company's as soon as it is deactivated or one of its tokens revoked. The database
-- announces both at commit, whoever makes the change: the payload is the company id, taken
-- from the column the trigger names, or '*' when every company may be concerned (TRUNCATE).
CREATE FUNCTION notify_access_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('aval_access', CASE
        WHEN TG_LEVEL = 'STATEMENT' THEN '*'
        WHEN TG_OP = 'DELETE' THEN to_jsonb(OLD) ->> TG_ARGV[0]
        ELSE to_jsonb(NEW) ->> TG_ARGV[0]
    END);
    RETURN NULL;
END
$$;

CREATE TRIGGER companies_access_changed
    AFTER UPDATE OR DELETE ON companies
    FOR EACH ROW EXECUTE FUNCTION notify_access_changed('id');
CREATE TRIGGER companies_truncated
    AFTER TRUNCATE ON companies
    FOR EACH STATEMENT EXECUTE FUNCTION notify_access_changed();
CREATE TRIGGER revoked_tokens_changed
    AFTER INSERT OR UPDATE OR DELETE ON revoked_tokens
    FOR EACH ROW EXECUTE FUNCTION notify_access_changed('company_id');
CREATE TRIGGER revoked_tokens_truncated
    AFTER TRUNCATE ON revoked_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION notify_access_changed();
