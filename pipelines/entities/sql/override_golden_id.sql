-- the golden record holding most of a decision's records
select golden_id, count(*) from _members where unique_id in (select unnest(cast(? as varchar[])))
group by 1 order by 2 desc, 1 limit 1
