-- one row per rule and evaluation: run, time, asset, rule, severity, success, observed value,
-- unexpected and element counts, description
insert into kontor.gate_results values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
