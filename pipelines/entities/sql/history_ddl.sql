-- append-only: golden ids created, merged into another, split off, retired; per run
create table if not exists :history (
    run_id varchar,
    recorded_at timestamp not null,
    golden_id varchar not null,
    event varchar not null,
    related_id varchar,
    members integer,
    detail varchar
)
