-- Items with their product group and standard cost (one row per ERP item).

with items as (

    select * from {{ ref('stg_erp__items') }}

),

final as (

    select
        item_no,
        item_name,
        product_group,
        product_group_name,
        unit,
        list_price,
        standard_cost,
        cast(list_price - standard_cost as decimal(12, 2)) as standard_margin,
        case
            when list_price > 0
                then round(cast((list_price - standard_cost) / list_price * 100 as double), 2)
        end as standard_margin_pct,
        -- joins to entities.supplier_xref once entity resolution lands
        case when supplier_no is not null then 'erp' end as supplier_system,
        cast(supplier_no as varchar) as supplier_source_id,
        supplier_no
    from items

)

select * from final
