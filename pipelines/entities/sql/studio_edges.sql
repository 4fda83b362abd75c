-- the pairs at or above the match threshold (bound), for the cluster studio
create or replace table :edges as
select unique_id_l, unique_id_r, match_probability from :predictions where match_probability >= ?
