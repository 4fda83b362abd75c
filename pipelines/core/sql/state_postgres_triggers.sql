-- how many of the append-only triggers exist: all of them means the schema is installed
select count(*) as n
from pg_trigger t
join pg_class c on c.oid = t.tgrelid
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = %s and t.tgname = any(%s)
