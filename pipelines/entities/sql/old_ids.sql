-- the golden ids before this run, with their member counts
select golden_id as prev_id, count(*) as members from :xref group by 1
