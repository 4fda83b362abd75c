-- a dbt test's failing rows, where dbt's store_failures writes them
create or replace table :relation as :query
