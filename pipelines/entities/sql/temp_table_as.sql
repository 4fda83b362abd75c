create or replace temp table :table as :query
