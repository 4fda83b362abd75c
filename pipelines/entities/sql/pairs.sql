-- Splink's predictions as the entity's pairs (scored_pairs.sql), strongest first
create or replace table :pairs as
select * from :scored
order by match_probability desc, unique_id_l, unique_id_r
