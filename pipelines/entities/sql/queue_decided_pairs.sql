-- pairs stewards merged or kept apart are no longer open
update :review_queue q set status = 'decided'
where kind = 'pair' and exists (select 1 from _decided_pairs d where 'pair:' || d.a || '|' || d.b = q.item_id)
