-- the pairs at or above the match threshold
create table :work.edges as
select unique_id_l, unique_id_r, match_probability from :pairs
where match_probability >= ?
