select count(*) from :relation
