-- a rule's failing rows (the gate's query, nested) into the quarantine, the first of them in row
-- order up to the limit: run, time, asset, rule, severity, the row's key as text, the row as JSON
insert into kontor.gate_quarantine select ?, ?, ?, ?, ?, :row_key, :row_json from :failing limit ?
