-- a file's good rows, each with its lineage (a later duplicate of a key excluded by the caller)
insert into :raw (_system, _source_file, _batch_id, _loaded_at, _line, :columns)
select $system, $file, $batch_id, cast($loaded_at as timestamp), :line, :typed
from _typed as t
where t._errors is null
