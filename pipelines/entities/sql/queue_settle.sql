-- items a steward's decision answers
update :review_queue q set status = s.status from _settled s where s.item_id = q.item_id
