-- Calendar: one row per day over the data period (whole months from the first order, invoice,
-- payment or purchase order to the last due date or key date).

with order_dates as (

    select order_date as date_day from {{ ref('stg_erp__orders') }}
    union all
    select order_date from {{ ref('stg_erp__purchase_orders') }}

),

accounting_dates as (

    select invoice_date as date_day from {{ ref('stg_accounting__rechnungen') }}
    union all
    select due_date from {{ ref('stg_accounting__rechnungen') }}
    union all
    select payment_date from {{ ref('stg_accounting__zahlungen') }}
    union all
    select key_date from {{ ref('stg_accounting__offene_posten') }}

),

bounds as (

    select
        cast(date_trunc('month', min(date_day)) as date) as first_day,
        cast(last_day(max(date_day)) as date) as last_day
    from (
        select date_day from order_dates
        union all
        select date_day from accounting_dates
    ) as all_dates
    where date_day is not null

),

days as (

    select cast(series.day_ts as date) as date_day
    from bounds, generate_series(bounds.first_day, bounds.last_day, interval 1 day) as series(day_ts)

),

final as (

    select
        date_day,
        cast(year(date_day) as integer) as year,
        cast(quarter(date_day) as integer) as quarter,
        cast(month(date_day) as integer) as month,
        strftime(date_day, '%Y-%m') as year_month,
        cast(date_trunc('month', date_day) as date) as month_start,
        cast(last_day(date_day) as date) as month_end,
        cast(date_trunc('quarter', date_day) as date) as quarter_start,
        cast(isoyear(date_day) as integer) as iso_year,
        cast(week(date_day) as integer) as iso_week,
        cast(isodow(date_day) as integer) as iso_day_of_week,
        isodow(date_day) >= 6 as is_weekend
    from days

)

select * from final order by date_day
