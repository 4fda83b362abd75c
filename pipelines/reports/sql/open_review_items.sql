-- the open items of one entity's review queue (:queue, e.g. entities.customer_review_queue)
select count(*) from :queue where status = 'open'
