{#- Country as ISO 3166-1 alpha-2, from what CRM, ERP and accounting exports write
    (codes, German and English names, DATEV's one-letter vehicle codes). -#}
{% macro country_iso(column) -%}
case
    when upper(trim({{ column }})) in ('DE', 'D', 'DEU', 'GER', 'DEUTSCHLAND', 'GERMANY') then 'DE'
    when upper(trim({{ column }})) in ('AT', 'A', 'AUT', 'ÖSTERREICH', 'OESTERREICH', 'AUSTRIA') then 'AT'
    when upper(trim({{ column }})) in ('CH', 'CHE', 'SCHWEIZ', 'SUISSE', 'SWITZERLAND') then 'CH'
    else nullif(upper(trim({{ column }})), '')
end
{%- endmacro %}
