-- file:line of a record's latest load in its raw table; ids compared as trimmed text, any case
select _source_file, _line
from :raw_table
where upper(trim(cast(:id_column as varchar))) = upper(?)
order by _batch_id desc
limit 1
