-- a schema the previous serving copy lacks (main, internal, is there already)
create schema if not exists :schema
