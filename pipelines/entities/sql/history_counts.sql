-- the run's id events by kind
select event, count(*) from :history where run_id = ? group by 1
