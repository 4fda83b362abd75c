create or replace temp table _city_alias (k varchar, city_key varchar)
