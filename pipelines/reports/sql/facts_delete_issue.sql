-- the rows of one (report, period, version), replaced by store_facts
delete from reports.facts where report = ? and period = ? and version = ?
