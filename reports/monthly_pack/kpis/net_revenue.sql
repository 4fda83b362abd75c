-- Net revenue: order lines of orders that are not cancelled, by order date (the same basis as
-- marts.revenue_by_product_group_region), per product group, region and customer.
with lines as (

    select * from marts.fct_order_lines
    where not is_cancelled

),

customers as (

    select customer_system, customer_source_id, customer_name from marts.bridge_customer_source

)

select
    report_periods.period_start,
    coalesce(lines.product_group || ' ' || lines.product_group_name, 'ohne Produktgruppe') as product_group,
    coalesce(lines.region, 'ohne Region') as region,
    coalesce(customers.customer_name, lines.customer_system || ':' || lines.customer_source_id) as customer,
    sum(lines.net_amount) as value
from report_periods
join lines on lines.order_date between report_periods.period_start and report_periods.period_end
left join customers
    on customers.customer_system = lines.customer_system
    and customers.customer_source_id = lines.customer_source_id
group by all
