-- Sales orders with their totals from the order lines and the invoices booked for them.

with orders as (

    select * from {{ ref('stg_erp__orders') }}

),

customers as (

    select customer_no, region from {{ ref('stg_erp__customers') }}

),

line_totals as (

    select
        order_no,
        count(*) as line_count,
        sum(net_amount) as net_amount,
        sum(cost_amount) as cost_amount,
        sum(margin_amount) as margin_amount
    from {{ ref('fct_order_lines') }}
    group by order_no

),

invoice_totals as (

    select
        order_no,
        count(*) as invoice_count,
        min(invoice_date) as first_invoice_date,
        sum(net_amount) as invoiced_net_amount
    from {{ ref('stg_accounting__rechnungen') }}
    where order_no is not null
    group by order_no

),

final as (

    select
        orders.order_no,
        orders.order_date,
        cast(date_trunc('month', orders.order_date) as date) as order_month,
        orders.status,
        orders.is_cancelled,
        case when orders.customer_no is not null then 'erp' end as customer_system,
        cast(orders.customer_no as varchar) as customer_source_id,
        orders.customer_no,
        coalesce(orders.region, customers.region) as region,
        orders.currency_code,
        coalesce(line_totals.line_count, 0) as line_count,
        cast(coalesce(line_totals.net_amount, 0) as decimal(14, 2)) as net_amount,
        cast(line_totals.cost_amount as decimal(14, 2)) as cost_amount,
        cast(line_totals.margin_amount as decimal(14, 2)) as margin_amount,
        coalesce(invoice_totals.invoice_count, 0) as invoice_count,
        invoice_totals.first_invoice_date,
        cast(coalesce(invoice_totals.invoiced_net_amount, 0) as decimal(14, 2)) as invoiced_net_amount,
        orders.updated_at
    from orders
    left join customers on customers.customer_no = orders.customer_no
    left join line_totals on line_totals.order_no = orders.order_no
    left join invoice_totals on invoice_totals.order_no = orders.order_no

)

-- the golden customer (entity resolution, models/entities/customer.yml) the record belongs to
select final.*, xref.golden_id as customer_golden_id
from final
left join {{ ref('customer_xref') }} as xref
    on xref.system = final.customer_system and xref.source_id = final.customer_source_id
