-- pairs of matchable records an EM blocking rule yields
select count(*)
from (select * from :standardised where :matchable) l
join (select * from :standardised where :matchable) r on (:rule) and l.unique_id < r.unique_id and :cross_systems
