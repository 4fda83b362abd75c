-- clusters stewards merged are no longer open
update :review_queue q set status = 'decided'
where kind = 'cluster' and item_id like '%:size' and not exists (
    select 1 from _members m where m.golden_id = q.golden_ids[1]
    and m.unique_id not in (select unique_id from _steward_merged))
