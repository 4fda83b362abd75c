-- the triggers present: all of state.SQLITE_TRIGGERS means the schema is installed
select name from sqlite_master where type = 'trigger'
