-- the legal forms of _reference.yml, their prefixes and one-typo variants
create or replace temp table _lf_lookup (lf_key varchar, legal_form varchar, is_full boolean)
