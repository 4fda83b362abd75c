-- each distinct name as written in _std_raw once, for the legal-form split: a name's split and
-- keys depend on nothing else. The split's record key stands for the name: source_system the
-- name, source_id whether it may be cut ('t'/'f') and the legal form as written (never '')
(select name_raw as source_system, case when name_trunc then 't' else 'f' end || coalesce(legal_form_raw, '') as source_id,
        name_raw, name_trunc, legal_form_raw
 from (select distinct name_raw, name_trunc, legal_form_raw from _std_raw where name_raw is not null) as v)
