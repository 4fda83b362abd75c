create schema if not exists entities
