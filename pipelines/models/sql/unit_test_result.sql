-- a dbt unit test's result, kept beside the gates' evaluations as every check keeps it
insert into kontor.gate_results values (?, now()::timestamp, ?, ?, 'error', ?, ?, null, null, ?)
