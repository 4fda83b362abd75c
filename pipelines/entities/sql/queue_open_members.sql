-- the open items with their records
select item_id, list_transform(members, lambda m: m.unique_id) from :review_queue where status = 'open'
