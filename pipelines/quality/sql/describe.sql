describe :relation
