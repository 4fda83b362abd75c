drop view :relation
