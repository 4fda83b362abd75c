-- ERP purchase orders (one item per order), latest delivered version per purchase order.

with source as (

    select * from {{ source('erp', 'purchase_orders') }}

),

latest as (

    -- raw keeps every delivered batch: the newest delivery of a purchase order wins
    select *
    from source
    where po_no is not null
    qualify row_number() over (partition by po_no order by _batch_id desc, _line desc) = 1

),

renamed as (

    select
        po_no as purchase_order_no,
        supplier_no,
        order_date,
        nullif(upper(trim(item_no)), '') as item_no,
        quantity,
        net_amount,
        _source_file as source_file,
        _batch_id as batch_id
    from latest

)

select * from renamed
