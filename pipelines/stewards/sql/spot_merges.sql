-- the last run's merges by rule (not by a steward) at or above the match threshold, by probability
select p.unique_id_l || '|' || p.unique_id_r, p.match_probability
from :pairs p
join :xref xl on xl.unique_id = p.unique_id_l
join :xref xr on xr.unique_id = p.unique_id_r
where xl.golden_id = xr.golden_id and xl.matched_by = 'rule' and xr.matched_by = 'rule'
  and p.match_probability >= ?
order by 2, 1
