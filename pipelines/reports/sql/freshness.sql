-- per source table: its latest successful load and how many files failed (kontor.load_ledger)
select system, table_name,
       max(finished_at) filter (where status = 'loaded') as last_loaded,
       count(*) filter (where status = 'failed') as failed_files
from kontor.load_ledger
group by all
order by system, table_name
