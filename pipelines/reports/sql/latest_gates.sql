-- The latest result of every (asset, rule) of the assets a report reads ($assets): gates may run
-- in different runs for different assets.
select asset, rule, severity, success, observed_value, unexpected_count, element_count, description, checked_at, run_id
from kontor.gate_results
where list_contains($assets, asset)
qualify row_number() over (partition by asset, rule order by checked_at desc) = 1
order by success, severity, asset, rule
