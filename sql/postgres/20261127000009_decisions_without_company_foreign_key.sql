-- The foreign key from each decision to its company cost a check per inserted row: a scan of
-- companies and a FOR KEY SHARE lock on the company's row, the same row for every decision
-- of a company (measured: one sequential scan of companies per decision, 1,000/s at 1,000
-- decisions/s). Decisions are only inserted by the scorer, for a company whose token access
-- it has just checked, and companies are never deleted (only deactivated), so the reference
-- holds by construction, as for the item rows (20261127000004).
ALTER TABLE decisions DROP CONSTRAINT decisions_company_id_fkey;
