-- Rows in the raw table after a load (the asset's row count).
select count(*) from :relation
