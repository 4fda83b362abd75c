-- Contribution margin in EUR: net revenue minus quantity × standard cost, orders not cancelled.
select
    report_periods.period_start,
    coalesce(lines.product_group || ' ' || lines.product_group_name, 'ohne Produktgruppe') as product_group,
    coalesce(lines.region, 'ohne Region') as region,
    sum(lines.margin_amount) as value
from report_periods
join marts.fct_order_lines as lines
    on lines.order_date between report_periods.period_start and report_periods.period_end
    and not lines.is_cancelled
group by all
