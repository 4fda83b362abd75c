create schema if not exists kontor
