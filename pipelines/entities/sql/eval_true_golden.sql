-- evaluate: the ground truth's golden records of one entity type (path, entity type)
create or replace temp table _true_golden as
select * from read_csv(?, all_varchar = true) where entity_type = ?
