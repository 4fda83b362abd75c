-- every trained Splink model of every entity, one row per version
create schema if not exists entities;
create table if not exists entities._models (
    entity varchar not null,
    version integer not null,
    trained_at timestamp not null,
    reason varchar not null,
    settings_hash varchar not null,
    fingerprint json not null,
    training_log json not null,      -- lambda, u sampling and EM sessions with their parameters
    model json not null,             -- Splink's model (settings with trained m and u)
    path varchar,
    primary key (entity, version)
);
