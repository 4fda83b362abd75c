-- Purchase orders (one item each) with product group and the variance to standard cost.

with purchase_orders as (

    select * from {{ ref('stg_erp__purchase_orders') }}

),

items as (

    select * from {{ ref('dim_items') }}

),

final as (

    select
        purchase_orders.purchase_order_no,
        purchase_orders.order_date,
        cast(date_trunc('month', purchase_orders.order_date) as date) as order_month,
        case when purchase_orders.supplier_no is not null then 'erp' end as supplier_system,
        cast(purchase_orders.supplier_no as varchar) as supplier_source_id,
        purchase_orders.supplier_no,
        purchase_orders.item_no,
        items.product_group,
        items.product_group_name,
        purchase_orders.quantity,
        purchase_orders.net_amount,
        case
            when purchase_orders.quantity <> 0
                then cast(round(purchase_orders.net_amount / purchase_orders.quantity, 2) as decimal(12, 2))
        end as unit_price,
        items.standard_cost as unit_standard_cost,
        cast(round(purchase_orders.quantity * items.standard_cost, 2) as decimal(14, 2)) as standard_cost_amount,
        cast(purchase_orders.net_amount - round(purchase_orders.quantity * items.standard_cost, 2)
             as decimal(14, 2)) as cost_variance
    from purchase_orders
    left join items on items.item_no = purchase_orders.item_no

)

-- the golden supplier (entity resolution, models/entities/supplier.yml) the record belongs to
select final.*, xref.golden_id as supplier_golden_id
from final
left join {{ ref('supplier_xref') }} as xref
    on xref.system = final.supplier_system and xref.source_id = final.supplier_source_id
