-- the audit events after the newest one the warehouse's copy holds (:rows is a registered Arrow table)
insert into :copy select * from :rows
