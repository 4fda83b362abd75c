-- Splink's scratch schema, dropped with what it holds
drop schema if exists :work cascade
