-- each row's line, numbered on rowid alone (an ASOF join over the full-width rows costs ~0.4 GB per
-- million rows); the steps as in line_steps.sql
create or replace temporary table _lines as
select t.rowid as _rowid, :first + t.rowid + coalesce(r.n, 0) as _line
from (select rowid from _typed) as t asof left join (
    select k, max(n) as n from (
        select line - :first - (row_number() over (order by line) - 1) as k,
               row_number() over (order by line) as n
        from (select line from _rejects union all select line from _blank_lines))
    group by k) as r on t.rowid >= r.k
