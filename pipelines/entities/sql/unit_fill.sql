-- per golden id, the parts of a unit (an address) that the members stating the same unit agree on
select w.golden_id, :attribute as attribute, :parts
from _winners w
join :standardised win on win.unique_id = w.unique_id
join _members mm on mm.golden_id = w.golden_id
join :standardised m on m.unique_id = mm.unique_id
where w.attribute = :attribute and :consistent
group by w.golden_id
