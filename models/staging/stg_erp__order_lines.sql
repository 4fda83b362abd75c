-- ERP sales order lines, latest delivered version per order and line number.

with source as (

    select * from {{ source('erp', 'order_lines') }}

),

latest as (

    -- raw keeps every delivered batch: the newest delivery of a line wins
    select *
    from source
    where order_no is not null and line_no is not null
    qualify row_number() over (partition by order_no, line_no order by _batch_id desc, _line desc) = 1

),

renamed as (

    select
        cast(order_no as varchar) || '-' || cast(line_no as varchar) as order_line_id,
        order_no,
        line_no,
        upper(trim(item_no)) as item_no,
        quantity,
        unit_price,
        discount_pct,
        net_amount,
        _source_file as source_file,
        _batch_id as batch_id
    from latest

)

select * from renamed
