-- Orders received (not cancelled), by order date, per region and customer.
with orders as (

    select * from marts.fct_orders
    where not coalesce(is_cancelled, false)

),

customers as (

    select customer_system, customer_source_id, customer_name from marts.bridge_customer_source

)

select
    report_periods.period_start,
    coalesce(orders.region, 'ohne Region') as region,
    coalesce(customers.customer_name, orders.customer_system || ':' || orders.customer_source_id) as customer,
    count(*) as value
from report_periods
join orders on orders.order_date between report_periods.period_start and report_periods.period_end
left join customers
    on customers.customer_system = orders.customer_system
    and customers.customer_source_id = orders.customer_source_id
group by all
