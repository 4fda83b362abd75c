-- must-link pairs are edges of certainty 1
insert into :work.edges select unique_id_l, unique_id_r, 1.0 from :work.must
