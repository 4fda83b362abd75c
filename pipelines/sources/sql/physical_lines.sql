-- from a record spanning several lines on, DuckDB's line count lags the file's by the lines gained
create or replace temporary table :relation as
select t.* replace (t.:line + coalesce(s.shift, 0) as :line)
from :relation as t asof left join _spans as s on t.:line > s.line
