-- no rows, only the review queue's columns (a queue written before the rank column lacks it)
select * from :queue limit 0
