{#- Field cleaning shared by the master-data staging models. -#}

{#- A postcode without country prefix (A-, CH-, D-); a German one that an export stored as a
    number gets its leading zero back (4109 -> 04109). -#}
{% macro postcode(column, country_iso) -%}
case
    when {{ country_iso }} = 'DE' and regexp_matches(trim({{ column }}), '^[0-9]{4}$')
        then lpad(trim({{ column }}), 5, '0')
    else nullif(regexp_replace(trim({{ column }}), '^(D|A|CH)-', ''), '')
end
{%- endmacro %}

{#- An identifier code such as an IBAN or VAT ID: upper case, no spaces, NULL when empty. -#}
{% macro compact_code(column) -%}
nullif(upper(replace(trim({{ column }}), ' ', '')), '')
{%- endmacro %}
