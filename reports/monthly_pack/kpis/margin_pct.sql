-- Contribution margin in % of net revenue: sum(margin) × 100 / sum(net revenue), a ratio, so the
-- drivers split the change into each group's mix and rate effect (see pipelines/reports/facts.py).
select
    report_periods.period_start,
    coalesce(lines.product_group || ' ' || lines.product_group_name, 'ohne Produktgruppe') as product_group,
    coalesce(lines.region, 'ohne Region') as region,
    sum(lines.margin_amount) * 100 as value,
    sum(lines.net_amount) as denominator
from report_periods
join marts.fct_order_lines as lines
    on lines.order_date between report_periods.period_start and report_periods.period_end
    and not lines.is_cancelled
group by all
