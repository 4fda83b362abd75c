-- the first failing rows of a rule in this evaluation, for the check's description
select row_key, row_json from kontor.gate_quarantine
where run_id = ? and asset = ? and rule = ? and checked_at = ?
limit ?
