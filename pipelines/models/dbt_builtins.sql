{#- dbt's `dbt` namespace as Kontor provides it: the cross-database macros real projects and
    packages call (dbt.date_trunc, dbt.dateadd, dbt.type_string, ...), written for DuckDB with the
    SQL dbt-duckdb generates, plus dbt's generic tests (not_null, unique, accepted_values,
    relationships) with dbt's queries: a test returns its failing rows. Each is a
    default__/duckdb__ implementation behind adapter.dispatch, so a project or package may
    override one as it would in dbt. -#}

{% macro type_string() %}{{ return("VARCHAR") }}{% endmacro %}
{% macro type_timestamp() %}{{ return("TIMESTAMP") }}{% endmacro %}
{% macro type_float() %}{{ return("FLOAT") }}{% endmacro %}
{% macro type_numeric() %}{{ return("NUMERIC(28,6)") }}{% endmacro %}
{% macro type_bigint() %}{{ return("BIGINT") }}{% endmacro %}
{% macro type_int() %}{{ return("INTEGER") }}{% endmacro %}
{% macro type_boolean() %}{{ return("BOOLEAN") }}{% endmacro %}

{% macro date_trunc(datepart, date) -%}{{ return(adapter.dispatch('date_trunc', 'dbt')(datepart, date)) }}{%- endmacro %}
{% macro default__date_trunc(datepart, date) -%}date_trunc('{{ datepart }}', {{ date }}){%- endmacro %}

{% macro dateadd(datepart, interval, from_date_or_timestamp) -%}{{ return(adapter.dispatch('dateadd', 'dbt')(datepart, interval, from_date_or_timestamp)) }}{%- endmacro %}
{% macro default__dateadd(datepart, interval, from_date_or_timestamp) -%}
date_add({{ from_date_or_timestamp }}, interval ({{ interval }}) {{ datepart }})
{%- endmacro %}

{% macro datediff(first_date, second_date, datepart) -%}{{ return(adapter.dispatch('datediff', 'dbt')(first_date, second_date, datepart)) }}{%- endmacro %}
{% macro default__datediff(first_date, second_date, datepart) -%}
date_diff('{{ datepart }}', {{ first_date }}::timestamp, {{ second_date }}::timestamp)
{%- endmacro %}

{% macro last_day(date, datepart) -%}{{ return(adapter.dispatch('last_day', 'dbt')(date, datepart)) }}{%- endmacro %}
{% macro default__last_day(date, datepart) -%}
cast({{ dbt.dateadd('day', '-1', dbt.dateadd(datepart, '1', dbt.date_trunc(datepart, date))) }} as date)
{%- endmacro %}

{% macro safe_cast(field, type) -%}{{ return(adapter.dispatch('safe_cast', 'dbt')(field, type)) }}{%- endmacro %}
{% macro default__safe_cast(field, type) -%}try_cast({{ field }} as {{ type }}){%- endmacro %}

{% macro cast(field, type) -%}cast({{ field }} as {{ type }}){%- endmacro %}

{% macro concat(fields) -%}{{ return(adapter.dispatch('concat', 'dbt')(fields)) }}{%- endmacro %}
{% macro default__concat(fields) -%}concat({{ fields | join(', ') }}){%- endmacro %}

{% macro hash(field) -%}{{ return(adapter.dispatch('hash', 'dbt')(field)) }}{%- endmacro %}
{% macro default__hash(field) -%}md5(cast({{ field }} as {{ dbt.type_string() }})){%- endmacro %}

{% macro cast_bool_to_text(field) -%}cast({{ field }} as {{ dbt.type_string() }}){%- endmacro %}
{% macro any_value(expression) -%}any_value({{ expression }}){%- endmacro %}
{% macro bool_or(expression) -%}bool_or({{ expression }}){%- endmacro %}

{% macro listagg(measure, delimiter_text="','", order_by_clause=none, limit_num=none) -%}
{%- if limit_num -%}
list_aggr((array_agg({{ measure }} {{ order_by_clause or '' }}))[1:{{ limit_num }}], 'string_agg', {{ delimiter_text }})
{%- else -%}
string_agg({{ measure }}, {{ delimiter_text }} {{ order_by_clause or '' }})
{%- endif -%}
{%- endmacro %}

{% macro split_part(string_text, delimiter_text, part_number) -%}
{%- if part_number >= 0 -%}
string_split({{ string_text }}, {{ delimiter_text }})[{{ part_number }}]
{%- else -%}
string_split({{ string_text }}, {{ delimiter_text }})[length(string_split({{ string_text }}, {{ delimiter_text }})) + 1 + ({{ part_number }})]
{%- endif -%}
{%- endmacro %}

{% macro replace(field, old_chars, new_chars) -%}replace({{ field }}, {{ old_chars }}, {{ new_chars }}){%- endmacro %}
{% macro length(expression) -%}length({{ expression }}){%- endmacro %}
{% macro position(substring_text, string_text) -%}position({{ substring_text }} in {{ string_text }}){%- endmacro %}
{% macro right(string_text, length_expression) -%}right({{ string_text }}, {{ length_expression }}){%- endmacro %}
{#- A relation as a value (dbt_utils.union_relations' _dbt_source_relation column): the name
    dbt-duckdb renders, "database"."schema"."identifier", not the schema.name Kontor's SQL uses -#}
{% macro string_literal(value) -%}
{%- if value is mapping and value.dbt_rendered is defined -%}'{{ value.dbt_rendered(target.database) }}'
{%- else -%}'{{ value }}'{%- endif -%}
{%- endmacro %}
{% macro escape_single_quotes(expression) -%}{{ expression | replace("'", "''") }}{%- endmacro %}
{% macro except() -%}except{%- endmacro %}
{% macro intersect() -%}intersect{%- endmacro %}
{% macro current_timestamp() -%}now(){%- endmacro %}
{% macro current_timestamp_backcompat() -%}now(){%- endmacro %}
{% macro current_timestamp_in_utc_backcompat() -%}now(){%- endmacro %}
{% macro snapshot_get_time() -%}now()::timestamp{%- endmacro %}
{% macro array_construct(inputs=[], data_type=none) -%}
{%- if inputs -%}[{{ inputs | join(', ') }}]{%- else -%}[]::{{ data_type or 'INTEGER' }}[]{%- endif -%}
{%- endmacro %}
{% macro array_append(array, new_element) -%}list_append({{ array }}, {{ new_element }}){%- endmacro %}
{% macro array_concat(array_1, array_2) -%}list_concat({{ array_1 }}, {{ array_2 }}){%- endmacro %}

{% macro generate_series(upper_bound) -%}
select range + 1 as generated_number from range({{ upper_bound }})
{%- endmacro %}

{% macro date_spine(datepart, start_date, end_date) -%}
select cast(d as timestamp) as date_{{ datepart }}
from range(cast({{ start_date }} as timestamp), cast({{ end_date }} as timestamp), interval 1 {{ datepart }}) t(d)
{%- endmacro %}

{#- dbt's generic tests: each returns the failing rows. -#}

{% test not_null(model, column_name) -%}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is null
{%- endtest %}

{% test unique(model, column_name) -%}
select
    {{ column_name }} as unique_field,
    count(*) as n_records
from {{ model }}
where {{ column_name }} is not null
group by {{ column_name }}
having count(*) > 1
{%- endtest %}

{% test accepted_values(model, column_name, values, quote=True) -%}
with all_values as (
    select {{ column_name }} as value_field, count(*) as n_records
    from {{ model }}
    group by {{ column_name }}
)
select *
from all_values
where value_field not in (
    {%- for value in values -%}
    {%- if quote %}'{{ value | string | replace("'", "''") }}'{% else %}{{ value }}{% endif -%}
    {%- if not loop.last %}, {% endif -%}
    {%- endfor -%}
)
{%- endtest %}

{% test relationships(model, column_name, to, field) -%}
with child as (
    select {{ column_name }} as from_field
    from {{ model }}
    where {{ column_name }} is not null
),
parent as (
    select {{ field }} as to_field
    from {{ to }}
)
select from_field
from child
left join parent on child.from_field = parent.to_field
where parent.to_field is null
{%- endtest %}
