-- Master records delivered per source system (staging; available before entity resolution runs).
select 'customer' as entity, 'crm' as system, count(*) as records from staging.stg_crm__accounts
union all
select 'customer', 'erp', count(*) from staging.stg_erp__customers
union all
select 'customer', 'accounting', count(*) from staging.stg_accounting__debitoren
union all
select 'supplier', 'erp', count(*) from staging.stg_erp__suppliers
union all
select 'supplier', 'accounting', count(*) from staging.stg_accounting__kreditoren
