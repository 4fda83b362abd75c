-- Master data is a state, not a flow: the report covers the week of the latest load.
select cast(max(finished_at) as date) from kontor.load_ledger where status = 'loaded'
