-- an earlier evaluation's results again, under this run's id and time
insert into kontor.gate_results
select ?, ?, asset, rule, severity, success, observed_value, unexpected_count, element_count, description
from kontor.gate_results
where run_id = ? and asset = ? and checked_at = ?
