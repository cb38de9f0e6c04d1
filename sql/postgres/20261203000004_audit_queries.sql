-- What an analyst filters the audit log by. Every decision is audited, so the log grows by one
-- row per decision and each index below costs every append; there is one per filter that
-- would otherwise scan a company's whole log, and nothing more. Paging is newest first by
-- seq, so each index ends with seq.
CREATE INDEX audit_events_by_kind ON audit_events (company_id, kind, seq);
CREATE INDEX audit_events_by_time ON audit_events (company_id, occurred_at);
-- Details are a flat JSON object; the filters read these keys, which only some kinds carry.
CREATE INDEX audit_events_by_request ON audit_events (company_id, (details ->> 'request_id'), seq)
    WHERE details ? 'request_id';
CREATE INDEX audit_events_by_dataset ON audit_events (company_id, (details ->> 'dataset_id'), seq)
    WHERE details ? 'dataset_id';
CREATE INDEX audit_events_by_model_version ON audit_events (company_id, (details ->> 'model_version'), seq)
    WHERE details ? 'model_version';
