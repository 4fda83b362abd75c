"""Standardise each system's master records into one shared schema, with matching keys.

All of it is DuckDB SQL built from the entity file and ``_reference.yml``, except the check of
IBANs (schwifty) and VAT IDs (python-stdnum), which runs in Python over the distinct values not
seen before and is cached in ``entities._id_checks``. Invalid IBANs and VAT IDs are kept and
flagged (``iban_valid = false``), never dropped; only their matching keys stay empty.

The output keeps two kinds of columns: the values as the system wrote them, cleaned of blanks
(name without legal form, street without house number, ...), for the golden record; and keys
(``name_key``, ``street_key``, ...) folded to lower case without umlauts and punctuation, for
Splink and for "most frequent" in survivorship.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import duckdb

from pipelines.entities.spec import EntitySpec
from pipelines.entities.types import TYPES, AttributeDecl
from pipelines.core.sql import ident, literal
from pipelines.core.warehouse import insert_rows

ID_CHECKS_DDL = """
create schema if not exists entities;
create table if not exists entities._id_checks (
    kind varchar not null,          -- iban | vat_id
    raw varchar not null,
    compact varchar,
    valid boolean not null,
    primary key (kind, raw)
);
"""


# the company schema's attributes, each standardised by its type (``types.py``): legal forms,
# abbreviations, second name lines, street spellings, city aliases, phone and e-mail keys
COMPANY_NAME, STREET, CITY, PHONE, EMAIL, REGISTER = (
    TYPES[t] for t in ("company_name", "street", "city", "phone", "email", "register_number"))


def _rules(expr: str, rules: list[list[str]]) -> str:
    for pattern, replacement in rules:
        expr = f"regexp_replace({expr}, {literal(pattern)}, {literal(replacement)}, 'g')"
    return expr


def _union_sql(spec: EntitySpec, relations: dict[str, str], branch_prefixes: list[str]) -> str:
    """Each system's records in the shared layout (values as written)."""
    parts = []
    for inp in spec.inputs:
        cols = inp.columns

        def col(attr: str, cast: str = "varchar") -> str:
            return f"cast({ident(cols[attr])} as {cast})" if attr in cols else f"cast(null as {cast})"

        name = f"nullif(trim({col('name')}), '')"
        if "name_addition" in cols and inp.name_max_length:
            name = COMPANY_NAME.with_addition(name, f"nullif(trim({col('name_addition')}), '')", inp.name_max_length,
                                              branch_prefixes)
        parts.append(f"""
            select {literal(inp.system)} as source_system, cast({ident(inp.id)} as varchar) as source_id,
                   {name} as name_raw, {COMPANY_NAME.cut(name, inp.name_cut_at)} as name_trunc,
                   nullif(trim({col('legal_form')}), '') as legal_form_raw,
                   nullif(trim({col('street')}), '') as street_raw, nullif(trim({col('house_number')}), '') as house_raw,
                   nullif(trim({col('postcode')}), '') as postcode, nullif(trim({col('city')}), '') as city_raw,
                   nullif(upper(trim({col('country')})), '') as country,
                   nullif(upper(regexp_replace({col('vat_id')}, '[^A-Za-z0-9]', '', 'g')), '') as vat_raw,
                   nullif(upper(regexp_replace({col('iban')}, '[^A-Za-z0-9]', '', 'g')), '') as iban_raw,
                   nullif(trim({col('email')}), '') as email, nullif(trim({col('phone')}), '') as phone,
                   {col('updated_at', 'timestamp')} as updated_at,
                   nullif(trim({col('register_number')}), '') as register_raw
            from {relations[inp.model]}""")
    return "\nunion all\n".join(parts)


def standardise(con: duckdb.DuckDBPyConnection, spec: EntitySpec, relations: dict[str, str]) -> int:
    """(Re)build ``entities.<entity>_standardised``; returns its row count."""
    if spec.declared is not None:
        return standardise_declared(con, spec, relations)
    ref = spec.reference
    out = spec.table("standardised")
    con.execute(ID_CHECKS_DDL)
    con.execute("create or replace temp table _lf_lookup (lf_key varchar, legal_form varchar, is_full boolean)")
    rows = COMPANY_NAME.legal_form_rows(ref.get("legal_forms") or {})
    if rows:
        insert_rows(con, "_lf_lookup", rows)
    con.execute("create or replace temp table _city_alias (k varchar, city_key varchar)")
    aliases = list((ref.get("city_aliases") or {}).items())
    if aliases:
        insert_rows(con, "_city_alias", aliases)
    max_tail = 5 if rows else 0

    con.execute(f"create or replace temp table _std_raw as {_union_sql(spec, relations, ref.get('branch_prefixes') or [])}")
    # the IBAN/VAT-ID checks are Python: they run on a thread while DuckDB builds the keys
    checks = _start_id_checks(con)
    con.execute(f"create or replace temp table _std_names as {COMPANY_NAME.split_sql('_std_raw', '_lf_lookup', max_tail)}")
    street0, house0 = STREET.split("r.street_raw", "r.house_raw")
    no_decl = AttributeDecl("", "text")      # the company schema's types take no options
    con.execute(f"""
    create or replace temp table _std as
    with r as (
        select r.*, {house0} as house0, {street0} as street0, {PHONE.dialled('r.phone')} as ph
        from _std_raw r
    ),
    c as (
        select r.*, {CITY.without_qualifiers('r.city_raw')} as city0
        from r
    )
    select
        c.source_system || ':' || c.source_id as unique_id, c.source_system, c.source_id, c.name_raw, c.street_raw,
        nullif(trim(n.name), '') as name, n.legal_form,
        {STREET.display('c.street0', 'c.country', ref)} as street, {STREET.house_key('c.house0')} as house_number,
        c.postcode, c.city_raw as city, c.country, c.vat_raw, c.iban_raw, c.email, c.phone, c.updated_at, c.register_raw,
        {COMPANY_NAME.base_key('n.base', ref)} as name_key,
        {COMPANY_NAME.words('n.base', ref)} as name_words,
        c.name_trunc,
        {STREET.key('c.street0', no_decl, ref)} as street_key,
        nullif(coalesce(a.city_key, c.city0), '') as city_key,
        {PHONE.national_key('c.ph', ref)} as phone_key,
        {EMAIL.key('c.email', no_decl, ref)} as email_key,
        {EMAIL.domain('c.email', ref)} as email_domain
    from c
    left join _std_names n using (source_system, source_id)
    left join _city_alias a on a.k = c.city0
    """)
    new_checks = checks.result()
    if new_checks:
        insert_rows(con, "entities._id_checks", new_checks)
    con.execute(f"""
    create or replace table {out} as
    select s.unique_id, s.source_system, s.source_id, s.name_raw, s.street_raw, s.name, s.legal_form, s.street, s.house_number,
           s.postcode, s.city, s.country,
           coalesce(v.compact, s.vat_raw) as vat_id, v.valid as vat_id_valid,
           coalesce(i.compact, s.iban_raw) as iban, i.valid as iban_valid,
           s.email, s.phone, s.updated_at,
           s.name_key, s.name_words, s.name_trunc, s.street_key, s.city_key, s.phone_key, s.email_key, s.email_domain,
           case when v.valid then v.compact end as vat_key,
           case when i.valid then i.compact end as iban_key,
           s.register_raw as register_number,
           case when s.register_raw is not null then {REGISTER.valid('s.register_raw', no_decl)} end as register_number_valid,
           {REGISTER.key('s.register_raw', no_decl, ref)} as register_key
    from _std s
    left join entities._id_checks v on v.kind = 'vat_id' and v.raw = s.vat_raw
    left join entities._id_checks i on i.kind = 'iban' and i.raw = s.iban_raw
    order by s.unique_id
    """)
    for temp in ("_std_raw", "_std_names", "_std", "_lf_lookup", "_city_alias"):
        con.execute(f"drop table if exists {temp}")
    return con.execute(f"select count(*) from {out}").fetchall()[0][0]


def check_value(kind: str, value: str) -> tuple[str | None, bool]:
    """(compact form, valid) of an IBAN (``kind='iban'``) or VAT ID (``'vat_id'``), by its type."""
    return TYPES[kind].check(value)


def _start_id_checks(con: duckdb.DuckDBPyConnection) -> Future:
    """Validate the IBANs (schwifty) and VAT IDs (python-stdnum) of ``_std_raw`` not seen before,
    on a thread; the result is rows for ``entities._id_checks``, the cache that makes a re-run
    check only new values."""
    new = con.execute("""
        select distinct r.kind, r.raw from (
            select 'iban' as kind, iban_raw as raw from _std_raw union all select 'vat_id', vat_raw from _std_raw
        ) r anti join entities._id_checks c on c.kind = r.kind and c.raw = r.raw
        where r.raw is not null
    """).fetchall()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kontor-id-checks")
    checks = pool.submit(lambda: [(kind, raw, *check_value(kind, raw)) for kind, raw in new])
    pool.shutdown(wait=False)    # the thread ends with its one task; result() waits for it
    return checks


def standardise_declared(con: duckdb.DuckDBPyConnection, spec: EntitySpec, relations: dict[str, str]) -> int:
    """The standardised input of an entity that declares its attributes (``attributes:``): per
    attribute the value as written, ``<attr>_key`` and, for validating types, ``<attr>_valid``,
    each from its type (``types.py``). IBANs and VAT IDs are checked as in the company path (the
    ``entities._id_checks`` cache); an invalid one is kept and flagged, only its key stays empty."""
    out = spec.table("standardised")
    declared = spec.declared or []
    parts = []
    for inp in spec.inputs:
        cols = [f"{literal(inp.system)} as source_system", f"cast({ident(inp.id)} as varchar) as source_id",
                (f"try_cast({ident(inp.columns['updated_at'])} as timestamp)" if "updated_at" in inp.columns
                 else "cast(null as timestamp)") + " as updated_at"]
        for a in declared:
            raw = f"nullif(trim(cast({ident(inp.columns[a.name])} as varchar)), '')" if a.name in inp.columns \
                else "cast(null as varchar)"
            cols.append(f"{raw} as {ident(a.name + '__raw')}")
        parts.append(f"select {', '.join(cols)} from {relations[inp.model]}")
    con.execute(ID_CHECKS_DDL)
    con.execute("create or replace temp table _std_raw as " + "\nunion all\n".join(parts))
    checked = [a for a in declared if a.kind.python_check]
    if checked:
        new = con.execute(" union ".join(
            f"select distinct {literal(a.kind.python_check)} as kind, {ident(a.name + '__raw')} as raw from _std_raw "
            f"where {ident(a.name + '__raw')} is not null" for a in checked)
            + " except select kind, raw from entities._id_checks").fetchall()
        if new:
            insert_rows(con, "entities._id_checks", [(kind, raw, *check_value(kind, raw)) for kind, raw in new])
    selects, joins = ["r.source_system || ':' || r.source_id as unique_id", "r.source_system", "r.source_id",
                      "r.updated_at"], []
    for index, a in enumerate(declared):
        raw = f"r.{ident(a.name + '__raw')}"
        kind = a.kind
        if a.type == "reference":      # the other entity's golden id, through its xref
            ref = f"_x{index}"
            joins.append(f"left join entities.{ident(a.options['entity'] + '_xref')} {ref} "
                         f"on {ref}.system = r.source_system and {ref}.source_id = {raw}")
            selects += [f"{ref}.golden_id as {ident(a.name)}", f"{ref}.golden_id as {ident(a.key)}"]
            continue
        if a.type == "company_name" and spec.reference.get("legal_forms"):
            # the company schema's legal-form split (a typo in the form, 'GmbH & Co. KG' whole), by
            # the type: the key is the name without it, abbreviations written out
            names = f"_names{index}"
            if index == min(i for i, b in enumerate(declared) if b.type == "company_name"):
                con.execute("create or replace temp table _lf_lookup (lf_key varchar, legal_form varchar, is_full boolean)")
                insert_rows(con, "_lf_lookup", COMPANY_NAME.legal_form_rows(spec.reference["legal_forms"]))
            source = (f"(select source_system, source_id, {ident(a.name + '__raw')} as name_raw, false as name_trunc, "
                      "cast(null as varchar) as legal_form_raw from _std_raw)")
            con.execute(f"create or replace temp table {names} as {COMPANY_NAME.split_sql(source, '_lf_lookup', 5)}")
            joins.append(f"left join {names} on {names}.source_system = r.source_system and {names}.source_id = r.source_id")
            selects += [f"{kind.value(raw, a, spec.reference)} as {ident(a.name)}",
                        f"{COMPANY_NAME.base_key(f'{names}.base', spec.reference)} as {ident(a.key)}"]
            continue
        if kind.python_check:
            check = f"_c{index}"
            joins.append(f"left join entities._id_checks {check} on {check}.kind = {literal(kind.python_check)} "
                         f"and {check}.raw = {raw}")
            selects += [f"coalesce({check}.compact, {raw}) as {ident(a.name)}",
                        f"case when {check}.valid then {check}.compact end as {ident(a.key)}",
                        f"{check}.valid as {ident(a.name + '_valid')}"]
            continue
        selects += [f"{kind.value(raw, a, spec.reference)} as {ident(a.name)}",
                    f"{kind.key(raw, a, spec.reference)} as {ident(a.key)}"]
        if kind.validates:
            selects.append(f"case when {raw} is not null then {kind.valid(raw, a)} end as {ident(a.name + '_valid')}")
    con.execute(f"create or replace table {out} as select {', '.join(selects)} from _std_raw r {' '.join(joins)} "
                "order by unique_id")
    for temp in ["_std_raw", "_lf_lookup", *(f"_names{i}" for i in range(len(declared)))]:
        con.execute(f"drop table if exists {temp}")
    return con.execute(f"select count(*) from {out}").fetchall()[0][0]
