-- the IBAN/VAT-ID checks done before (Python: schwifty, python-stdnum), so a re-run checks only new
-- values; _id_checks_version names the rules and library versions that made them (standardise.py)
create schema if not exists entities;
create table if not exists entities._id_checks (
    kind varchar not null,          -- iban | vat_id
    raw varchar not null,
    compact varchar,
    valid boolean not null,
    primary key (kind, raw)
);
create table if not exists entities._id_checks_version (checks varchar);
