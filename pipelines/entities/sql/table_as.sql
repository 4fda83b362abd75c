create or replace table :table as :query
