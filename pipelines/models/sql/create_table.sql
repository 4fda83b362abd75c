-- DuckDB answers with the number of rows written
create table :relation as :query
