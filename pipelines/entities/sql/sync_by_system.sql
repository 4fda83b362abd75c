-- sync proposals per system, and how many need sign-off
select system, count(*), count(*) filter (where requires_signoff)
from :proposals
group by 1
order by 1
