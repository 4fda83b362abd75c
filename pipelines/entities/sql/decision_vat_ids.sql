-- the keys of one VAT ID column's valid values among some records ($1: their ids): a merge of records with
-- different valid VAT IDs needs four eyes
select distinct :vat from :standardised where :valid and list_contains($1, unique_id)
