-- cannot-link pairs are no edges
delete from :work.edges e using :work.cannot c
where e.unique_id_l = c.unique_id_l and e.unique_id_r = c.unique_id_r
