-- Processes remember which tokens they granted access to (store/src/access.rs) and must
-- forget a company's as soon as it is deactivated or one of its tokens revoked. The database
-- announces both at commit, whoever makes the change: the payload is the company id, or '*'
-- when every company may be concerned.
CREATE FUNCTION notify_company_access_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('aval_access', OLD.id::text);
    ELSE
        PERFORM pg_notify('aval_access', NEW.id::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION notify_token_access_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('aval_access', OLD.company_id::text);
    ELSE
        PERFORM pg_notify('aval_access', NEW.company_id::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION notify_all_access_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('aval_access', '*');
    RETURN NULL;
END
$$;

CREATE TRIGGER companies_access_changed
    AFTER UPDATE OR DELETE ON companies
    FOR EACH ROW EXECUTE FUNCTION notify_company_access_changed();
CREATE TRIGGER companies_truncated
    AFTER TRUNCATE ON companies
    FOR EACH STATEMENT EXECUTE FUNCTION notify_all_access_changed();
CREATE TRIGGER revoked_tokens_changed
    AFTER INSERT OR UPDATE OR DELETE ON revoked_tokens
    FOR EACH ROW EXECUTE FUNCTION notify_token_access_changed();
CREATE TRIGGER revoked_tokens_truncated
    AFTER TRUNCATE ON revoked_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION notify_all_access_changed();
