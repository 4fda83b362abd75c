-- the latest evaluation that passed on this fingerprint
select run_id, checked_at, docs_page from kontor.gate_fingerprints
where asset = ? and fingerprint = ?
order by checked_at desc
limit 1
