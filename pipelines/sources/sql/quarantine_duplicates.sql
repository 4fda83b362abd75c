-- a later row of a repeated key; it converted fine, so its values as read (typed, as text) stand for it
insert into kontor.quarantine
select $batch_id, $source, $file, :line, $key,
       'duplicate primary key (' || $key || ') in this file; first at line ' || :first_line,
       :row_json, cast($loaded_at as timestamp)
from _dups as d
join _typed as t on t.rowid = d._rowid
join _typed as f on f.rowid = d._first
