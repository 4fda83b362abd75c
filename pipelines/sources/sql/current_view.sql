-- raw.<system>__<table>__current: the table's current state (full: the newest delivery; delta: each key's newest row)
create or replace view :current as :query
