-- a relation's columns and types (a table, a temporary table, or a query in parentheses)
describe :relation
