-- The copies of a dataset's completion marker read so far, one per partition of the ingest
-- topic. The gateway spreads a dataset's batches over every partition and sends a copy of the
-- marker to each; the copy that makes the count whole completes the dataset.
CREATE TABLE completion_marker_copies (
    dataset_id uuid        NOT NULL REFERENCES datasets (id),
    marker_id  text        NOT NULL,
    partition  integer     NOT NULL,
    read_at    timestamptz NOT NULL,
    PRIMARY KEY (dataset_id, marker_id, partition)
);
