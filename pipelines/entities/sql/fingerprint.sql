-- what a model was trained on: records per system and the share of empty keys
select source_system, count(*), :null_shares
from :standardised
group by 1
order by 1
