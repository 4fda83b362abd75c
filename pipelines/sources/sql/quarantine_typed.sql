-- the rows a value of failed: the first reason's column, every reason, the row as read
insert into kontor.quarantine
select $batch_id, $source, $file, :line,
       regexp_extract(t._errors[1], '^([^:]+):', 1), array_to_string(t._errors, '; '), t._raw, cast($loaded_at as timestamp)
from _typed as t
where t._errors is not null
