-- the legal form split off each distinct name (types.CompanyName.split_sql) and the name's keys
create or replace temp table _std_names as
select n.name_raw, n.name_trunc, n.legal_form_raw, n.name, n.legal_form,
       :name_key as name_key, :name_words as name_words
from :split as n
