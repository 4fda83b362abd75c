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
        case when supplier_no is not null then 'erp' end as supplier_system,
        cast(supplier_no as varchar) as supplier_source_id,
        supplier_no
    from items

)

-- the golden supplier (entity resolution, models/entities/supplier.yml) the record belongs to
select final.*, xref.golden_id as supplier_golden_id
from final
left join {{ ref('supplier_xref') }} as xref
    on xref.system = final.supplier_system and xref.source_id = final.supplier_source_id
