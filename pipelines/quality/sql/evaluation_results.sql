select rule, observed_value, unexpected_count, element_count from kontor.gate_results
where run_id = ? and asset = ? and checked_at = ?
