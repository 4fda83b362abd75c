create schema :schema
