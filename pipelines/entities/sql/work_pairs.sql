-- the pairs of a scratch table (cannot, must)
select unique_id_l, unique_id_r from :pairs
