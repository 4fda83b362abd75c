-- ERP item master with product group and standard cost, latest delivered version per item.

with source as (

    select * from {{ source('erp', 'items') }}

),

latest as (

    -- raw keeps every delivered batch: the newest delivery of an item wins
    select *
    from source
    where item_no is not null
    qualify row_number() over (partition by item_no order by _batch_id desc, _line desc) = 1

),

renamed as (

    select
        upper(trim(item_no)) as item_no,
        nullif(trim(description), '') as item_name,
        upper(trim(product_group)) as product_group,
        nullif(trim(product_group_name), '') as product_group_name,
        nullif(trim(unit), '') as unit,
        list_price,
        standard_cost,
        supplier_no,
        _source_file as source_file,
        _batch_id as batch_id
    from latest

)

select * from renamed
