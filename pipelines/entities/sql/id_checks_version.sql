-- the version of the cached IBAN/VAT-ID checks (ensure_id_checks)
select checks from entities._id_checks_version
