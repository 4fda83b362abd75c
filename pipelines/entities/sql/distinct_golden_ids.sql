select distinct golden_id from :table
