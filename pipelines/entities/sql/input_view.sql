-- one system's matchable records, as Splink reads them
create or replace temp view :view as
select * from :standardised
where source_system = :system and :matchable
