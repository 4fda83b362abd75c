-- review-queue items in one status ('open', 'pending')
select count(*) from :queue where status = ?
