-- the version that made the cached IBAN/VAT-ID checks, in place of the old one
drop table if exists entities._id_checks_version;
create table entities._id_checks_version as :query
