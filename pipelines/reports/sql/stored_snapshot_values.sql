-- a snapshot KPI's values in earlier issues: the latest version per period
select period, arg_max(value, version)
from reports.facts
where report = ? and kpi = ? and measure = 'value' and dimension is null
group by period
