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

from typing import Callable

import sqlglot
from sqlglot import exp

from pipelines.engines.connection import Connection
from pipelines.engines.mapped import start_mapped_insert
from pipelines.entities.id_checks import checker, id_checks_version
from pipelines.entities.spec import EntitySpec
from pipelines.entities.types import TYPES, AttributeDecl
from pipelines.core.sql import render, table_expr, template, verbatim
from pipelines.core.warehouse import insert_rows

ID_CHECKS_DDL = template(__file__, "id_checks_ddl")


def ensure_id_checks(con: Connection) -> None:
    """``entities._id_checks``, emptied when other rules or library versions made what it holds
    (a verdict of an older check is never kept: it is made again on this run)."""
    con.execute(ID_CHECKS_DDL)
    version = id_checks_version()
    if con.execute(template(__file__, "id_checks_version")).fetchall() != [(version,)]:
        con.execute(_sql("drop_table", table=exp.to_table("entities._id_checks")))
        con.execute(ID_CHECKS_DDL)
        con.execute(_sql("id_checks_version_set", query=exp.select(exp.alias_(exp.Literal.string(version), "checks"))))


def _sql(name: str, **names) -> str:
    """The template ``sql/<name>.sql`` with its ``:names`` filled (``render``)."""
    return render(template(__file__, name), **names)


def _expr(sql: str) -> exp.Expression:
    """SQL an attribute type writes (``types.py``), as a sqlglot tree to put into a template."""
    return sqlglot.parse_one(sql, read="duckdb")


def _text(sql: str) -> exp.Expression:
    """SQL an attribute type writes (``types.py``), put into a template as written, in parentheses:
    the same statement as :func:`_expr`'s tree without parsing it (about 15 ms of CPU per
    expression, for every run whatever the data size)."""
    return exp.paren(verbatim(sql))


def _relation(relation: str) -> exp.Table:
    """A staging model's relation as the models stage names it (``schema.table``, maybe quoted)."""
    return exp.to_table(relation, dialect="duckdb")


# the company schema's attributes, each standardised by its type (``types.py``): legal forms,
# abbreviations, second name lines, street spellings, city aliases, country codes, phone and e-mail keys
COMPANY_NAME, STREET, CITY, COUNTRY, PHONE, EMAIL, REGISTER, VAT_ID = (
    TYPES[t] for t in ("company_name", "street", "city", "country", "phone", "email", "register_number", "vat_id"))


def _union(spec: EntitySpec, relations: dict[str, str], branch_prefixes: list[str]) -> exp.Expression:
    """Each system's records in the shared layout (values as written)."""
    parts = []
    for inp in spec.inputs:
        cols = inp.columns

        def col(attr: str, cast: str = "varchar") -> exp.Expression:
            return exp.cast(exp.column(cols[attr], quoted=True) if attr in cols else exp.null(), cast)

        def trimmed(attr: str) -> str:
            return exp.func("nullif", exp.func("trim", col(attr), dialect="duckdb"), exp.Literal.string(""),
                            dialect="duckdb").sql("duckdb")

        name = trimmed("name")
        if "name_addition" in cols and inp.name_max_length:
            name = COMPANY_NAME.with_addition(name, trimmed("name_addition"), inp.name_max_length, branch_prefixes)
        parts.append(verbatim(_sql(
            "std_raw_part", system=exp.Literal.string(inp.system), id=exp.column(inp.id, quoted=True),
            name_raw=_text(name), name_trunc=_text(COMPANY_NAME.cut(name, inp.name_cut_at)),
            **{attr: col(attr) for attr in ("legal_form", "street", "house_number", "postcode", "city",
                                            "vat_id", "iban", "email", "phone", "register_number")},
            country=_text(COUNTRY.code(col("country").sql("duckdb"), spec.reference)),
            updated_at=col("updated_at", "timestamp"), relation=_relation(relations[inp.model]))))
    union = parts[0]
    for part in parts[1:]:
        union = exp.union(union, part, distinct=False)
    return union


def standardise(con: Connection, spec: EntitySpec, relations: dict[str, str]) -> int:
    """(Re)build ``entities.<entity>_standardised``; returns its row count."""
    if spec.declared is not None:
        return standardise_declared(con, spec, relations)
    ref = spec.reference
    out = spec.table("standardised")
    ensure_id_checks(con)
    con.execute(template(__file__, "lf_lookup"))
    rows = COMPANY_NAME.legal_form_rows(ref.get("legal_forms") or {}, ref.get("legal_forms_in_full_only"))
    if rows:
        insert_rows(con, "_lf_lookup", rows)
    con.execute(template(__file__, "city_alias"))
    aliases = list((ref.get("city_aliases") or {}).items())
    if aliases:
        insert_rows(con, "_city_alias", aliases)
    max_tail = 5 if rows else 0

    con.execute(_sql("temp_table_as", table="_std_raw", query=_union(spec, relations, ref.get("branch_prefixes") or [])))
    # the IBAN/VAT-ID checks are Python: on DuckDB on a thread while DuckDB builds the keys, on
    # Spark on the executors (a Spark job of their own)
    checks = _start_id_checks(con, template(__file__, "new_id_checks"))
    # the split and the name's keys once per distinct name (at 1M records about three in four are)
    split = COMPANY_NAME.split_sql(template(__file__, "std_name_values"), "_lf_lookup", max_tail)
    con.execute(_sql("std_names", split=verbatim("(" + split + ")"),
                     name_key=_text(COMPANY_NAME.base_key("n.base", ref)), name_words=_text(COMPANY_NAME.words("n.base", ref))))
    street0, house0 = STREET.split("r.street_raw", "r.house_raw")
    no_decl = AttributeDecl("", "text")      # the company schema's types take no options
    con.execute(_sql(
        "std", house0=_text(house0), street0=_text(street0), dialled=_text(PHONE.dialled("r.phone")),
        city0=_text(CITY.without_qualifiers("r.city_raw")), street=_text(STREET.display("c.street0", "c.country", ref)),
        house_number=_text(STREET.house_key("c.house0")), street_key=_text(STREET.key("c.street0", no_decl, ref)),
        phone_key=_text(PHONE.national_key("c.ph", ref)), email_key=_text(EMAIL.key("c.email", no_decl, ref)),
        email_domain=_text(EMAIL.domain("c.email", ref))))
    checks()
    con.execute(_sql("standardised", standardised=table_expr(out),
                     register_valid=_text(REGISTER.valid("s.register_raw", no_decl)),
                     register_key=_text(REGISTER.key("s.register_raw", no_decl, ref)),
                     vat_key=_text(VAT_ID.key_of("v.compact"))))
    for temp in ("_std_raw", "_std_names", "_std", "_lf_lookup", "_city_alias"):
        con.execute(_sql("drop_table", table=exp.to_table(temp)))
    return con.execute(_sql("count", relation=table_expr(out))).fetchall()[0][0]


def _start_id_checks(con: Connection, new: str) -> Callable[[], None]:
    """Validate the IBANs and VAT IDs that ``new`` (a query of kind, raw) finds, the values not
    checked before, into ``entities._id_checks``: the cache that makes a re-run check only new
    values. Returns the call that finishes it. Where the engine's rows are (``engines.mapped``):
    on DuckDB on a thread of this process, on Spark on the executors, never collected to the
    driver; the same ``check_value`` on both (``id_checks.checker``: it refuses libraries other
    than the ones ``entities._id_checks_version`` names)."""
    return start_mapped_insert(con, "entities._id_checks", new, checker(id_checks_version()))


def standardise_declared(con: Connection, spec: EntitySpec, relations: dict[str, str]) -> int:
    """The standardised input of an entity that declares its attributes (``attributes:``): per
    attribute the value as written, ``<attr>_key`` and, for validating types, ``<attr>_valid``,
    each from its type (``types.py``). IBANs and VAT IDs are checked as in the company path (the
    ``entities._id_checks`` cache); an invalid one is kept and flagged, only its key stays empty."""
    out = spec.table("standardised")
    declared = spec.declared or []

    def raw_name(a) -> str:
        return a.name + "__raw"

    def col(name: str, table: str | None = None) -> exp.Column:
        return exp.column(name, table=table, quoted=True)

    parts = []
    for inp in spec.inputs:
        updated = exp.TryCast(this=col(inp.columns["updated_at"]), to=exp.DataType.build("timestamp")) \
            if "updated_at" in inp.columns else exp.cast(exp.null(), "timestamp")
        cols = [exp.alias_(exp.Literal.string(inp.system), "source_system"),
                exp.alias_(exp.cast(col(inp.id), "varchar"), "source_id"), exp.alias_(updated, "updated_at")]
        for a in declared:
            raw = exp.func("nullif", exp.func("trim", exp.cast(col(inp.columns[a.name]), "varchar"), dialect="duckdb"),
                           exp.Literal.string(""), dialect="duckdb") if a.name in inp.columns \
                else exp.cast(exp.null(), "varchar")
            cols.append(exp.alias_(raw, raw_name(a), quoted=True))
        parts.append(exp.select(*cols).from_(_relation(relations[inp.model])))
    ensure_id_checks(con)
    union = parts[0]
    for part in parts[1:]:
        union = exp.union(union, part, distinct=False)
    con.execute(_sql("temp_table_as", table="_std_raw", query=union))
    checked = [a for a in declared if a.kind.python_check]
    if checked:
        values = [exp.select(exp.alias_(exp.Literal.string(a.kind.python_check), "kind"),
                             exp.alias_(col(raw_name(a)), "raw")).distinct().from_("_std_raw")
                  .where(col(raw_name(a)).is_(exp.null()).not_()) for a in checked]
        union = values[0]
        for part in values[1:]:
            union = exp.union(union, part, distinct=True)
        _start_id_checks(con, exp.except_(union, exp.select("kind", "raw").from_("entities._id_checks")).sql("duckdb"))()
    r = "r"
    selects = [exp.alias_(exp.DPipe(this=exp.DPipe(this=exp.column("source_system", table=r), expression=exp.Literal.string(":")),
                                    expression=exp.column("source_id", table=r)), "unique_id"),
               exp.column("source_system", table=r), exp.column("source_id", table=r), exp.column("updated_at", table=r)]
    joins: list[tuple[exp.Expression, exp.Expression]] = []
    for index, a in enumerate(declared):
        raw = col(raw_name(a), table=r)
        raw_sql = raw.sql("duckdb")
        kind = a.kind
        if a.type == "reference":      # the other entity's golden id, through its xref
            ref = "_x" + str(index)
            joins.append((exp.alias_(table_expr("entities." + a.options["entity"] + "_xref"), ref, table=True),
                          exp.and_(exp.column("system", table=ref).eq(exp.column("source_system", table=r)),
                                   exp.column("source_id", table=ref).eq(raw))))
            selects += [exp.alias_(exp.column("golden_id", table=ref), a.name, quoted=True),
                        exp.alias_(exp.column("golden_id", table=ref), a.key, quoted=True)]
            continue
        if a.type == "company_name" and spec.reference.get("legal_forms"):
            # the company schema's legal-form split (a typo in the form, 'GmbH & Co. KG' whole), by
            # the type: the key is the name without it, abbreviations written out
            names = "_names" + str(index)
            if index == min(i for i, b in enumerate(declared) if b.type == "company_name"):
                con.execute(template(__file__, "lf_lookup"))
                insert_rows(con, "_lf_lookup", COMPANY_NAME.legal_form_rows(spec.reference["legal_forms"],
                                                                                  spec.reference.get("legal_forms_in_full_only")))
            source = exp.select(exp.column("source_system"), exp.column("source_id"),
                                exp.alias_(col(raw_name(a)), "name_raw"), exp.alias_(exp.false(), "name_trunc"),
                                exp.alias_(exp.cast(exp.null(), "varchar"), "legal_form_raw")).from_("_std_raw")
            split = COMPANY_NAME.split_sql(source.subquery().sql("duckdb"), "_lf_lookup", 5)
            con.execute(_sql("temp_table_as", table=names, query=_expr(split)))
            joins.append((exp.to_table(names), exp.and_(
                exp.column("source_system", table=names).eq(exp.column("source_system", table=r)),
                exp.column("source_id", table=names).eq(exp.column("source_id", table=r)))))
            selects += [exp.alias_(_expr(kind.value(raw_sql, a, spec.reference)), a.name, quoted=True),
                        exp.alias_(_expr(COMPANY_NAME.base_key(names + ".base", spec.reference)), a.key, quoted=True)]
            continue
        if kind.python_check:
            check = "_c" + str(index)
            joins.append((exp.alias_(exp.to_table("entities._id_checks"), check, table=True),
                          exp.and_(exp.column("kind", table=check).eq(exp.Literal.string(kind.python_check)),
                                   exp.column("raw", table=check).eq(raw))))
            compact, valid = exp.column("compact", table=check), exp.column("valid", table=check)
            selects += [exp.alias_(exp.func("coalesce", compact, raw, dialect="duckdb"), a.name, quoted=True),
                        exp.alias_(exp.Case(ifs=[exp.If(this=valid, true=_expr(kind.key_of(compact.sql("duckdb"))))]),
                                   a.key, quoted=True),
                        exp.alias_(valid.copy(), a.name + "_valid", quoted=True)]
            continue
        selects += [exp.alias_(_expr(kind.value(raw_sql, a, spec.reference)), a.name, quoted=True),
                    exp.alias_(_expr(kind.key(raw_sql, a, spec.reference)), a.key, quoted=True)]
        if kind.validates:
            selects.append(exp.alias_(exp.Case(ifs=[exp.If(this=raw.is_(exp.null()).not_(),
                                                            true=_expr(kind.valid(raw_sql, a, spec.reference)))]),
                                      a.name + "_valid", quoted=True))
    query = exp.select(*selects).from_(exp.alias_(exp.to_table("_std_raw"), r, table=True))
    for table, on in joins:
        query = query.join(table, on=on, join_type="left")
    con.execute(_sql("table_as", table=table_expr(out), query=query.order_by("unique_id")))
    for temp in ["_std_raw", "_lf_lookup", *("_names" + str(i) for i in range(len(declared)))]:
        con.execute(_sql("drop_table", table=exp.to_table(temp)))
    return con.execute(_sql("count", relation=table_expr(out))).fetchall()[0][0]
