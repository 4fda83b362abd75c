-- a rejected record and a blank line still occupy a line: from rowid k on, rows move down n lines
-- (the first steps, ordered; lines.sql numbers them all)
select k, max(n) as n from (
    select line - :first - (row_number() over (order by line) - 1) as k,
           row_number() over (order by line) as n
    from (select line from _rejects union all select line from _blank_lines))
group by k
order by k
limit ?
