-- each later row of a repeated key, and the first row of its key
create or replace temporary table _dups as
select _rowid, _first from (
    select rowid as _rowid, row_number() over w as _rank, first_value(rowid) over w as _first
    from _typed where _errors is null
    window w as (partition by :key order by rowid))
where _rank > 1
