-- the records of one golden id, in order
select unique_id from :clusters where golden_id = ? order by 1
