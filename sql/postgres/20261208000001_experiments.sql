-- Champion and challengers. The champion is the active model (`active_models`); a company's
-- experiment (`aval_core::experiment::Experiment`: challengers with their share of traffic,
-- shadows, the guardrail) is versioned like its policy: the newest row is in force, a row is
-- never changed. `probation` is set by a promotion: the champion it replaced, scored beside
-- the new one until then, and put back by the guardrail should the new one breach it.
CREATE TABLE experiments (
    company_id  uuid        NOT NULL REFERENCES companies (id),
    version     integer     NOT NULL CHECK (version >= 1),
    definition  jsonb       NOT NULL,
    probation   jsonb,
    created_at  timestamptz NOT NULL,
    -- `company:<id>`, or `system:guardrail` for a rollback the guardrail made.
    created_by  text        NOT NULL,
    PRIMARY KEY (company_id, version)
);

-- Which arm served each decision: `champion` or `challenger` (the version is `model_version`).
-- Decisions recorded before experiments existed were the champion's. The check is added NOT
-- VALID: the rows already there hold the default, and a scan would hold the scorer's inserts.
ALTER TABLE decisions ADD COLUMN arm text NOT NULL DEFAULT 'champion';
ALTER TABLE decisions ADD CONSTRAINT decisions_arm_check
    CHECK (arm IN ('champion', 'challenger')) NOT VALID;

-- What every other version of the experiment made of an order a decision served, scored off
-- the reply path and never returned: the champion on a challenger's orders, challengers and
-- shadows on every order. Comparisons pair these with the decision's own score.
CREATE TABLE arm_scores (
    company_id    uuid             NOT NULL,
    order_id      text             NOT NULL,
    model_version integer          NOT NULL,
    probability   double precision NOT NULL,
    verdict       text             NOT NULL CHECK (verdict IN ('approved', 'rejected', 'review')),
    scored_at     timestamptz      NOT NULL,
    PRIMARY KEY (company_id, order_id, model_version),
    FOREIGN KEY (company_id, order_id) REFERENCES decisions (company_id, order_id)
);

-- Why each version became champion. Every writer of `active_models` names its reason; the
-- trigger keeps the history, so no path can change the champion without leaving a row.
ALTER TABLE active_models ADD COLUMN reason text NOT NULL DEFAULT 'activated'
    CHECK (reason IN ('trained', 'activated', 'promoted', 'rolled_back', 'guardrail'));

CREATE TABLE champion_history (
    company_id uuid        NOT NULL REFERENCES companies (id),
    version    integer     NOT NULL,
    since      timestamptz NOT NULL,
    by         text        NOT NULL,
    reason     text        NOT NULL,
    id         bigserial   PRIMARY KEY,
    FOREIGN KEY (company_id, version) REFERENCES models (company_id, version)
);

CREATE INDEX champion_history_by_company ON champion_history (company_id, since, id);

CREATE FUNCTION champion_history_append() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO champion_history (company_id, version, since, by, reason)
    VALUES (NEW.company_id, NEW.version, NEW.activated_at, NEW.activated_by, NEW.reason);
    RETURN NEW;
END $$;

CREATE TRIGGER active_models_history
    AFTER INSERT OR UPDATE ON active_models
    FOR EACH ROW EXECUTE FUNCTION champion_history_append();

-- The champions in place before the history was kept.
INSERT INTO champion_history (company_id, version, since, by, reason)
SELECT company_id, version, activated_at, activated_by, 'activated' FROM active_models;
