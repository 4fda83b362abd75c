select count(*) from :table
