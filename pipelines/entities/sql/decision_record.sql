-- one record id, if the entity has that record
select unique_id from :standardised where unique_id = ?
