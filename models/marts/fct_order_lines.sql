-- Sales order lines with product group, region, cost at standard cost and margin.

with lines as (

    select * from {{ ref('stg_erp__order_lines') }}

),

orders as (

    select * from {{ ref('stg_erp__orders') }}

),

customers as (

    select customer_no, region from {{ ref('stg_erp__customers') }}

),

items as (

    select * from {{ ref('dim_items') }}

),

costed as (

    select
        lines.order_line_id,
        lines.order_no,
        lines.line_no,
        orders.order_date,
        cast(date_trunc('month', orders.order_date) as date) as order_month,
        orders.status as order_status,
        coalesce(orders.is_cancelled, false) as is_cancelled,
        case when orders.customer_no is not null then 'erp' end as customer_system,
        cast(orders.customer_no as varchar) as customer_source_id,
        orders.customer_no,
        coalesce(orders.region, customers.region) as region,
        lines.item_no,
        items.product_group,
        items.product_group_name,
        lines.quantity,
        lines.unit_price,
        lines.discount_pct,
        lines.net_amount,
        items.standard_cost as unit_cost,
        cast(round(lines.quantity * items.standard_cost, 2) as decimal(14, 2)) as cost_amount
    from lines
    left join orders on orders.order_no = lines.order_no
    left join customers on customers.customer_no = orders.customer_no
    left join items on items.item_no = lines.item_no

),

final as (

    select
        *,
        cast(net_amount - cost_amount as decimal(14, 2)) as margin_amount,
        case
            when net_amount <> 0
                then round(cast((net_amount - cost_amount) / net_amount * 100 as double), 2)
        end as margin_pct
    from costed

)

-- the golden customer (entity resolution, models/entities/customer.yml) the record belongs to
select final.*, xref.golden_id as customer_golden_id
from final
left join {{ ref('customer_xref') }} as xref
    on xref.system = final.customer_system and xref.source_id = final.customer_source_id
