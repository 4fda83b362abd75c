-- The bridge from supplier source records to golden suppliers: one row per source record (system,
-- source id) with the golden supplier's id and name from entity resolution
-- (models/entities/supplier.yml). Facts carry supplier_system / supplier_source_id; reports join
-- here and group by supplier_key, the golden id, so one company known to several systems is one
-- supplier. One row per golden supplier: dim_supplier.

with erp as (

    select
        'erp' as supplier_system,
        cast(supplier_no as varchar) as supplier_source_id,
        name as supplier_name
    from {{ ref('stg_erp__suppliers') }}

),

accounting as (

    select
        'accounting' as supplier_system,
        cast(account_no as varchar) as supplier_source_id,
        name as supplier_name
    from {{ ref('stg_accounting__kreditoren') }}

),

source_records as (

    select * from erp
    union all
    select * from accounting

),

resolved as (

    -- a record the entity stage has not seen yet keeps its own key until the next run
    select
        coalesce(x.golden_id, s.supplier_system || ':' || s.supplier_source_id) as supplier_key,
        x.golden_id,
        s.supplier_system,
        s.supplier_source_id,
        coalesce(g.display_name, s.supplier_name) as supplier_name
    from source_records s
    left join {{ ref('supplier_xref') }} x
        on x.system = s.supplier_system and x.source_id = s.supplier_source_id
    left join {{ ref('supplier_golden') }} g
        on g.golden_id = x.golden_id

)

select * from resolved
