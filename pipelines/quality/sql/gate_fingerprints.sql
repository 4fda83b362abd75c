-- the passes a later run may reuse (pipelines/quality/reuse.py)
create table if not exists kontor.gate_fingerprints (
    asset varchar not null,
    fingerprint varchar not null,
    run_id varchar not null,          -- the evaluation whose gate_results rows are reused
    checked_at timestamp not null,
    docs_page varchar
)
