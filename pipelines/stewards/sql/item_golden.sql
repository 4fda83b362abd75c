select golden_id, display_name, street, house_number, postcode, city, vat_id, iban, attributes_in_review
from :golden
where list_contains(?, golden_id)
