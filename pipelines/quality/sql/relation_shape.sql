-- the relation's column names and types
describe :relation
