select count(*) from kontor.gate_quarantine where run_id = ? and asset = ? and rule = ? and checked_at = ?
