-- evaluate: the ground truth's entity of each record of one entity type (path, entity type)
create or replace temp table _truth as
select system || ':' || source_id as unique_id, true_id
from read_csv(?, all_varchar = true)
where entity_type = ?
