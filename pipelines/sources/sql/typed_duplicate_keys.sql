-- does the file repeat a key? A grouping tells (NULL keys group as the window partitions them),
-- at a fraction of the window's sort
select count(*) from (select 1 from _typed where _errors is null group by :key having count(*) > 1)
