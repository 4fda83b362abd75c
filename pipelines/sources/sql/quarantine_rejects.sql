-- what the CSV parser rejected
insert into kontor.quarantine
select $batch_id, $source, $file, line, column_name, reason, raw_text, cast($loaded_at as timestamp)
from _rejects
