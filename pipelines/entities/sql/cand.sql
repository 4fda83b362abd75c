-- every attribute's candidates
create or replace temp table _cand as :parts
