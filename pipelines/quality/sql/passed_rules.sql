select rule from kontor.gate_results where run_id = ? and asset = ? and checked_at = ? and success
