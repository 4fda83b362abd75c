-- the rows of one of an entity's tables
select count(*) from :relation
