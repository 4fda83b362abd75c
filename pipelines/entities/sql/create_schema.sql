-- Splink's scratch schema
create schema :work
