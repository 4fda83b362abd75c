drop table if exists __kontor_increment
