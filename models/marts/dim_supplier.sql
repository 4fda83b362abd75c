-- Suppliers at the grain analysts expect: one row per supplier, that is per golden supplier from
-- entity resolution (a source record the entity stage has not seen yet is its own supplier until
-- the next run). Joining a fact on supplier_golden_id = golden_id never multiplies its rows; the
-- source records behind each supplier are in bridge_supplier_source.

with bridge as (

    select * from {{ ref('bridge_supplier_source') }}

),

suppliers as (

    select
        supplier_key,
        any_value(golden_id) as golden_id,
        -- the golden name on every record of a resolved supplier; else the record's own
        min(supplier_name) as supplier_name,
        count(*) as source_record_count,
        string_agg(distinct supplier_system, ', ' order by supplier_system) as systems
    from bridge
    group by supplier_key

),

golden as (

    select golden_id, legal_form, postcode, city, country, vat_id
    from {{ ref('supplier_golden') }}

)

select
    suppliers.supplier_key,
    suppliers.golden_id,
    suppliers.supplier_name,
    golden.legal_form,
    golden.postcode,
    golden.city,
    golden.country,
    golden.vat_id,
    suppliers.systems,
    suppliers.source_record_count
from suppliers
left join golden on golden.golden_id = suppliers.golden_id
