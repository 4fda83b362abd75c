-- the matches of weak_edges are no edges
delete from :work.edges e using :work.weak w
where e.unique_id_l = w.unique_id_l and e.unique_id_r = w.unique_id_r
