-- ERP item master with product group and standard cost, latest delivered version per item.

with source as (

    -- the current state (raw.erp__items__current): the newest delivered version per key
    select * from {{ source('erp', 'items__current') }}

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
    from source

)

select * from renamed
