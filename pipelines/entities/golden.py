"""From clusters to master data: stable golden ids, survivorship, conflicts, review queue, xref,
id history and sync proposals.

Everything is SQL on the warehouse connection, written in one go by :func:`resolve`, so the tables
of one entity always belong to the same run.

Stable ids: a cluster keeps the golden id that most of its members had before (each old id goes
to at most one cluster, the one holding most of its members); other clusters get a new id derived
from their smallest member id, so rebuilding from scratch gives the same ids. Merges, splits,
new and retired ids are appended to ``entities.<entity>_id_history``.

Survivorship: per attribute, candidates are the members' non-empty values; the rules, in the
order the entity file lists them, sort the candidates and the first rule that tells the winner
from a loser is recorded as the reason. A critical attribute (IBAN, VAT ID) on which a cluster's
valid values disagree gets no winner: the golden value stays empty and the cluster goes to review.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import sqlglot
from sqlglot import exp

from pipelines.core.csvsafe import neutralise_expr
from pipelines.engines import catalog
from pipelines.engines.connection import Connection
from pipelines.entities.decisions import Constraints, item_status
from pipelines.entities.spec import Attribute, EntitySpec
from pipelines.entities.id_checks import check_value
from pipelines.entities.types import TYPES
from pipelines.core.sql import render, table_expr, template, verbatim
from pipelines.core.warehouse import insert_rows

# Matching key per attribute (a column, or SQL on the standardised record): "most frequent" counts
# values that are equal after standardisation, and a critical attribute is in conflict when valid
# candidates have different keys. A VAT ID by its number (vat_key: "CHE-123.456.788 MWST", "... TVA"
# and the bare UID are one), an invalid one (no key) by its compact form.
KEY_OF = {"name": "name_key", "street": "street_key", "city": "city_key", "phone": "phone_key",
          "email": "email_key", "vat_id": "coalesce(vat_key, vat_id)", "iban": "iban", "legal_form": "legal_form",
          "house_number": "house_number", "postcode": "postcode", "country": "country", "register_number": "register_key"}
VALID_OF = {"vat_id": "vat_id_valid", "iban": "iban_valid"}


def key_of(spec: EntitySpec) -> dict[str, str]:
    """Attribute -> its matching key: the company schema's, or ``<attr>_key`` of declared ones."""
    return KEY_OF if spec.declared is None else {a.name: a.key for a in spec.declared}


def valid_of(spec: EntitySpec) -> dict[str, str]:
    """Attribute -> its validity flag, for attributes whose type validates."""
    if spec.declared is None:
        return VALID_OF
    return {a.name: f"{a.name}_valid" for a in spec.declared if a.kind.validates}


def display_expr(spec: EntitySpec, alias: str | None = "g") -> exp.Expression:
    """The golden record's display name: company name with legal form, or the declared name
    attributes (company or person name parts) in their order, else the first attribute."""
    names = ["name", "legal_form"] if spec.declared is None else \
        [a.name for a in spec.declared if a.type in ("company_name", "person_name")] or [spec.declared[0].name]
    joined = exp.func("trim", exp.func("concat_ws", exp.Literal.string(" "),
                                       *[exp.column(n, table=alias) for n in names], dialect="duckdb"), dialect="duckdb")
    return joined if spec.declared is None else exp.func("nullif", joined, exp.Literal.string(""), dialect="duckdb")


def _sql(name: str, **names) -> str:
    """The template ``sql/<name>.sql`` with its ``:names`` filled (a string: an entity's table, ``schema.table``)."""
    return render(template(__file__, name), **{key: table_expr(value) if isinstance(value, str) else value
                                               for key, value in names.items()})


def _query(name: str, **names) -> exp.Expression:
    """A template as a sqlglot tree, to put into another template's place."""
    return sqlglot.parse_one(_sql(name, **names), read="duckdb")



@dataclass
class Resolved:
    golden: int
    clusters: int
    multi_member: int
    review_items: int
    conflicts: int
    sync_proposals: int
    events: dict[str, int] = field(default_factory=dict)
    overridden: int = 0
    changes: list[dict] = field(default_factory=list)       # audit events: golden values that changed


def _exists(con: Connection, table: str) -> bool:
    schema, name = table.split(".")
    return catalog.table_exists(con, schema, name)


def new_id(prefix: str, seed: str, taken: set[str]) -> str:
    salt = 0
    while True:
        digest = hashlib.sha1(f"{seed}#{salt}".encode() if salt else seed.encode()).hexdigest()[:10]
        candidate = f"{prefix}-{digest}"
        if candidate not in taken:
            return candidate
        salt += 1


def assign_ids(con: Connection, spec: EntitySpec, clusters: str, run_id: str,
               previous: dict[str, str] | None = None) -> dict[str, int]:
    """``_members`` (unique_id, cluster_id, golden_id, prev_id) with stable golden ids; history appended.

    The previous ids come from the warehouse's xref, or, when the warehouse was rebuilt from
    scratch, from ``previous`` (record → golden id, replayed from the state store's audit trail)."""
    xref = spec.table("xref")
    history = spec.table("id_history")
    con.execute(template(__file__, "entities_schema"))
    con.execute(_sql("history_ddl", history=history))
    if not _exists(con, xref) and previous:
        con.execute(template(__file__, "previous_xref"))
        insert_rows(con, "_previous_xref", previous.items())
        xref = "_previous_xref"
    prev_join = xref == "_previous_xref" or _exists(con, xref)
    if prev_join:
        con.execute(_sql("members_previous", clusters=exp.to_table(clusters), xref=table_expr(xref)))
    else:
        con.execute(_sql("members_new", clusters=exp.to_table(clusters)))
    candidates = con.execute(template(__file__, "id_candidates")).fetchall()
    assigned: dict[str, str] = {}
    used: set[str] = set()
    for cluster, prev, _ in candidates:          # the largest continuations first
        if cluster not in assigned and prev not in used:
            assigned[cluster] = prev
            used.add(prev)
    taken = set(used) | {r[0] for r in con.execute(_sql("distinct_golden_ids", table=history)).fetchall()}
    if prev_join:
        taken |= {r[0] for r in con.execute(_sql("distinct_golden_ids", table=xref)).fetchall()}
    rows = con.execute(template(__file__, "cluster_first_member")).fetchall()
    for cluster, first in rows:
        if cluster not in assigned:
            assigned[cluster] = new_id(spec.id_prefix, f"{spec.name}:{first}", taken)
            taken.add(assigned[cluster])
    con.execute(template(__file__, "ids_table"))
    insert_rows(con, "_ids", [(str(c), g) for c, g in assigned.items()])
    con.execute(template(__file__, "members_ids"))
    # history: ids that appear, continue elsewhere, or disappear
    old = _query("old_ids", xref=xref) if prev_join else _query("no_old_ids")
    con.execute(_sql("history_insert", history=history, old=old), [run_id])
    counts = con.execute(_sql("history_counts", history=history), [run_id]).fetchall()
    return dict(counts)


# Keys this many edits apart are one value spelled two ways (a typo), more are two values.
TYPO_EDITS = 2


def _rule_key(rule: str) -> str:
    """A sortable key per rule (smaller wins)."""
    return {"most_frequent": "-freq", "source_priority": "prio", "most_recent": "-coalesce(epoch(updated_at), 0)",
            "most_complete": "-length(value)", "valid_only": "0",
            # values more than a typo apart are different values (a move, a new mailbox): the one
            # whose newest record is newest wins; spelling variants of it share its date
            "latest_change": "-latest",
            # spelled out rather than abbreviated ('Str.'), mixed rather than upper or lower case, umlauts
            # rather than their transliteration: the form a person would write in a letter
            # a typo makes a rare word: prefer the value whose rarest word is most common in the
            # entity's values of this attribute ("Elstomertechnik" once, "Elastomertechnik" often)
            "common_spelling": "-rarest",
            "well_formed": "4 * (value = upper(value) and value <> lower(value))::int"
                           " + 4 * (value = lower(value) and value <> upper(value))::int"
                           " + 2 * length(regexp_extract_all(value, '[A-Za-zäöüß]\\.'))"
                           " - length(regexp_extract_all(value, '[äöüßÄÖÜ]'))"}[rule]


def _case(whens: list[tuple[exp.Expression, str]]) -> exp.Expression:
    """The first rule whose condition holds, else the record id broke the tie."""
    tie = exp.Literal.string("tie broken by record id")
    if not whens:
        return tie
    return exp.Case(ifs=[exp.If(this=condition, true=exp.Literal.string(rule)) for condition, rule in whens], default=tie)


def _key_expr(key: str) -> exp.Expression:
    """A key of ``KEY_OF`` / ``key_of``: a column name, or SQL on the standardised record."""
    return exp.column(key) if key.isidentifier() else sqlglot.parse_one(key, read="duckdb")


def _coalesced(columns: list[str], separator: str) -> exp.Expression:
    return exp.func("concat_ws", exp.Literal.string(separator),
                    *[exp.func("coalesce", _key_expr(c), exp.Literal.string(""), dialect="duckdb") for c in columns],
                    dialect="duckdb")


def _candidates(spec: EntitySpec, attr: Attribute) -> exp.Expression:
    cols = attr.columns
    value = exp.column(cols[0]) if len(cols) == 1 else _coalesced(cols, ", ")
    keys, valids = key_of(spec), valid_of(spec)
    key = _key_expr(keys.get(cols[0], cols[0])) if len(cols) == 1 else _coalesced([keys.get(c, c) for c in cols], "|")
    checks = [exp.func("coalesce", exp.column(valids[c]), exp.true(), dialect="duckdb") for c in cols if c in valids]
    valid = exp.and_(*checks) if checks else exp.true()
    present = exp.or_(*[exp.column(c).is_(exp.null()).not_() for c in cols])
    prio = exp.Case(this=exp.column("source_system", table="s"),
                    ifs=[exp.If(this=exp.Literal.string(sy), true=exp.Literal.number(i))
                         for i, sy in enumerate(attr.source_priority)], default=exp.Literal.number(999))
    return verbatim(_sql("candidates", attribute=exp.Literal.string(attr.name), value=value, key=key, valid=valid,
                            prio=prio, standardised=spec.table("standardised"), present=present))


def survivorship(con: Connection, spec: EntitySpec) -> None:
    """``_winners`` (golden_id, attribute, unique_id | null) and ``_cand``: every candidate's fate
    where the candidates disagree, the winner alone where they agree. Per attribute: ``rarity``
    (``common_spelling`` ranks by how often a candidate's rarest word occurs among the attribute's
    values; only computed for attributes that use the rule: splitting every value into words is
    the costliest part of survivorship) and ``latest`` (``latest_change`` ranks by the newest date
    among the candidates that spell the same value, keys at most ``TYPO_EDITS`` edits apart)."""
    parts = []
    # the same for every attribute: parsed once (rendering copies what it puts into a template)
    rarity, no_rarity = _query("rarity"), _query("no_rarity")
    latest, no_latest = _query("latest", edits=exp.Literal.number(TYPO_EDITS)), _query("no_latest")
    for attr in spec.attributes:
        rules = [r for r in attr.rules if r != "valid_only"]
        keys = [sqlglot.parse_one(_rule_key(r), read="duckdb") for r in rules]
        valid_only = "valid_only" in attr.rules
        critical = [c for c in attr.columns if c in spec.critical]
        conflict = exp.column("distinct_valid", table="c") > 1 if critical else exp.false()
        rule_cols = [exp.alias_(k, f"r{i}") for i, k in enumerate(keys)] or [exp.alias_(exp.Literal.number(0), "r0")]

        def differs(left: str, i: int) -> exp.Expression:
            return exp.column(f"r{i}", table=left).neq(exp.column(f"r{i}", table="w"))

        # written once by sqlglot and kept as written: parsing it back for the union cost more
        # than running it on 10k records
        parts.append(verbatim(_sql(
            "survivorship", candidates=_candidates(spec, attr),
            rarity=rarity if "common_spelling" in rules else no_rarity,
            latest=latest if "latest_change" in rules else no_latest,
            rule_cols=rule_cols, order=[*[exp.column(f"r{i}") for i in range(len(keys))], exp.column("unique_id")],
            filter=exp.column("valid") if valid_only else exp.true(), critical=conflict,
            runner=_case([(differs("s2", i), r) for i, r in enumerate(rules)]),
            valid_only=exp.true() if valid_only else exp.false(),
            decisive=_case([(differs("c", i), r) for i, r in enumerate(rules)]))))
    # the parts are this call's own trees: joined without copying them (a copy per part was
    # quadratic in the number of attributes, a CPU second per run)
    union = parts[0] if len(parts) == 1 else exp.union(*parts, distinct=False, copy=False)
    con.execute(_sql("cand", parts=union))
    con.execute(template(__file__, "winners"))


def resolve(con: Connection, spec: EntitySpec, clusters: str, run_id: str,
            decided: Constraints | None = None, previous: dict[str, str] | None = None,
            build=None) -> Resolved:
    """Write golden, xref, clusters, conflicts, review queue and id history for one entity,
    honouring the stewards' effective decisions (``decided``). ``build(con, spec, decided)`` builds
    the survivorship tables from ``_members`` (default :func:`build_tables` on ``con``; on Spark
    ``entities.spark.BuildOnSpark``)."""
    decided = decided or Constraints()
    had_golden = _exists(con, spec.table("golden"))
    if had_golden:
        con.execute(_sql("golden_before", golden=spec.table("golden")))
    events = assign_ids(con, spec, clusters, run_id, previous)
    id_changes = con.execute(template(__file__, "id_changes")).fetchall()
    (build or build_tables)(con, spec, decided)
    overridden = _apply_overrides(con, spec, decided)
    _review_queue(con, spec, run_id, decided)
    changes = _golden_changes(con, spec, run_id, decided) if had_golden else []
    if id_changes:   # which record belongs to which golden id: replayable after a rebuild from scratch
        changes.append({"run_id": run_id, "actor": f"rule:{spec.name}", "kind": "xref_change", "entity": spec.name,
                        "object_id": None, "before": {u: p for u, p, _ in id_changes if p is not None} or None,
                        "after": {u: g for u, _, g in id_changes}, "detail": f"{len(id_changes)} record(s) got a golden id"})
    n = lambda t: con.execute(_sql("count", relation=spec.table(t))).fetchall()[0][0]  # noqa: E731
    clusters_n, multi = con.execute(_sql("golden_counts", golden=spec.table("golden"))).fetchall()[0]
    open_items = con.execute(_sql("count_status", queue=spec.table("review_queue")), ["open"]).fetchall()[0][0]
    for temp in ("_members", "_ids", "_cand", "_winners", "_unit_fill", "_golden_before", "_steward_merged", "_previous_xref"):
        con.execute(_sql("drop_table", table=exp.to_table(temp)))
    return Resolved(golden=n("golden"), clusters=clusters_n, multi_member=multi, review_items=open_items,
                    conflicts=n("conflicts"), sync_proposals=0, events=events, overridden=overridden, changes=changes)


def _qualified(key: str, table: str) -> exp.Expression:
    """A key of ``KEY_OF`` / ``key_of`` on the record aliased ``table``."""
    expr = _key_expr(key)
    for column in expr.find_all(exp.Column):
        column.set("table", exp.to_identifier(table))
    return expr


def _unit_fill(con: Connection, spec: EntitySpec) -> set[str]:
    """``_unit_fill`` (golden_id, attribute, one column per part): for an attribute chosen as one
    unit from one record (``address: {columns: [...]}``), the parts the winning record leaves empty,
    taken from the cluster's members that state the same unit: every part both have agrees by key,
    and at least one does. A part is filled only where those members agree on it, so a winning
    address without a country gets the country its own street and postcode carry in another
    system, never one of two. Parts with a validity flag are not filled. Returns the filled columns."""
    keys, valids = key_of(spec), valid_of(spec)
    units = [a for a in spec.attributes if len(a.columns) > 1]
    parts = {a.name: [c for c in a.columns if c not in valids] for a in units}
    columns = [c for a in units for c in parts[a.name]]
    selects = []
    for attr in units:
        win = {c: _qualified(keys.get(c, c), "win") for c in attr.columns}
        mem = {c: _qualified(keys.get(c, c), "m") for c in attr.columns}
        consistent = [exp.or_(win[c].is_(exp.null()), mem[c].is_(exp.null()), win[c].eq(mem[c]))
                      for c in attr.columns]
        shares = exp.or_(*[win[c].eq(mem[c]) for c in attr.columns])
        values = []
        for c in columns:
            if c in parts[attr.name]:
                agreed = exp.func("count", exp.Distinct(expressions=[mem[c].copy()])).eq(exp.Literal.number(1))
                value = exp.Case(ifs=[exp.If(this=agreed, true=exp.Min(this=exp.Case(ifs=[exp.If(
                    this=mem[c].copy().is_(exp.null()).not_(), true=exp.column(c, table="m"))])))])
            else:
                value = exp.null()
            values.append(exp.alias_(value, c, quoted=True))
        selects.append(_query("unit_fill", attribute=exp.Literal.string(attr.name), parts=values,
                              standardised=spec.table("standardised"), consistent=exp.and_(*consistent, shares)))
    if not selects:
        selects.append(exp.select(exp.column("golden_id"), exp.column("attribute")).from_("_winners").limit(0))
    union = selects[0] if len(selects) == 1 else exp.union(*selects, distinct=False)
    con.execute(_sql("temp_table_as", table="_unit_fill", query=union))
    return set(columns)


def build_tables(con: Connection, spec: EntitySpec, decided: Constraints) -> None:
    """From ``_members`` (stable golden ids) and the standardised records: survivorship (``_cand``,
    ``_winners``), ``_steward_merged``, and the golden, clusters, xref and conflicts tables. Plain
    SQL on ``con``: on Spark it runs unchanged on a ``SparkConnection`` (``entities/spark.py``)."""
    survivorship(con, spec)
    con.execute(template(__file__, "steward_merged"))
    if decided.merged_by:
        insert_rows(con, "_steward_merged", decided.merged_by.items())
    std = spec.table("standardised")
    winners = []
    valids = valid_of(spec)

    def winning(attr: Attribute, column: str, filled: set[str] = frozenset()) -> exp.Expression:
        value = exp.column(column, table="s")
        if column in filled:     # a part the winning record lacks, from the members at the same place
            value = exp.func("coalesce", value, exp.column(column, table="f"), dialect="duckdb")
        chosen = exp.Case(ifs=[exp.If(this=exp.column("attribute", table="w").eq(exp.Literal.string(attr.name)),
                                      true=value)])
        return exp.alias_(exp.Max(this=chosen), column)

    filled = _unit_fill(con, spec)

    for attr in spec.attributes:
        for col in attr.columns:
            winners.append(winning(attr, col, filled))
            if col == "phone" and spec.declared is None:      # compared by number, not by how it is written
                winners.append(winning(attr, "phone_key"))
            if col in valids:
                winners.append(winning(attr, valids[col]))
    con.execute(_sql("golden", golden=spec.table("golden"), winners=winners, standardised=std,
                     display_name=display_expr(spec)))
    con.execute(_sql("clusters", clusters=spec.table("clusters"), standardised=std))
    con.execute(_sql("xref", xref=spec.table("xref"), pairs=spec.table("pairs"), standardised=std))
    con.execute(_sql("conflicts", conflicts=spec.table("conflicts")))


# The chance that the automatic outcome of an item is wrong, by kind of item: a pair in the review
# band was kept apart, so its match probability is the chance that it is one entity; where a rule
# and Splink disagree, or a cluster holds together only through a chain, either way may be wrong.
CHANCE_WRONG = {"critical": 1.0, "chain": 0.5, "conflict": 0.5, "nameless": 0.5}


def _review_queue(con: Connection, spec: EntitySpec, run_id: str, decided: Constraints) -> None:
    """Open items, ranked by what a wrong decision would cost (``cost``, ``priority`` 1 = first):
    the chance the automatic outcome is wrong times what it affects (the records of the clusters
    involved, records with a valid IBAN counting three times and with a valid VAT ID twice: bank
    details and invoices go astray; a critical attribute in dispute doubles it). Items: critical
    conflicts, oversized clusters held together by a chain (not every pair a match), pairs in the
    review band that no ``distinct_when`` rule settles, pairs a rule kept apart against Splink's
    score (when the rule's ``review_when`` holds), records that match into two groups kept apart
    (one item each, with the candidates), records without a usable name."""
    from pipelines.entities.matching import distinct_exprs

    queue, std, pairs = spec.table("review_queue"), spec.table("standardised"), spec.table("pairs")
    lo, hi = spec.thresholds["review_probability"], spec.thresholds["match_probability"]
    max_size = spec.thresholds["max_cluster_size"]
    kept = exp.to_table("_kept_apart") if _temp_exists(con, "_kept_apart") else _query("no_kept_apart").subquery()
    # on the aliases the clustering step's rules use (l, r): each rule's SQL is rewritten for them once a run
    fired, listed = distinct_exprs(spec, "l", "r")
    bridges = exp.to_table("_bridges") if _temp_exists(con, "_bridges") else _query("no_bridges").subquery()

    def member(s: str) -> exp.Expression:
        def field(name: str, value: exp.Expression) -> exp.Expression:
            return exp.PropertyEQ(this=exp.to_identifier(name), expression=value)

        head = [field("unique_id", exp.column("unique_id", table=s)), field("system", exp.column("source_system", table=s)),
                field("source_id", exp.column("source_id", table=s))]
        if spec.declared is not None:       # the declared attributes as written
            return exp.Struct(expressions=head + [field(a.name, exp.cast(exp.column(a.name, table=s), "varchar"))
                                                  for a in spec.declared])
        street = exp.func("concat_ws", exp.Literal.string(" "), exp.column("street", table=s),
                          exp.column("house_number", table=s), dialect="duckdb")
        return exp.Struct(expressions=head + [
            field("name", exp.column("name_raw", table=s)), field("street", street),
            *[field(c, exp.column(c, table=s)) for c in ("postcode", "city", "vat_id", "iban", "email", "phone")]])

    chance = {f"chance_{kind}": exp.convert(value) for kind, value in CHANCE_WRONG.items()}
    con.execute(_sql(
        "review_queue", review_queue=queue, standardised=std, pairs=pairs, impact=_impact(spec),
        hi=exp.convert(hi), lo=exp.convert(lo), max_size=exp.convert(max_size), kept=kept, bridges=bridges,
        fired=fired, listed=listed, matchable=sqlglot.parse_one(spec.matchable, read="duckdb"),
        run_id=exp.Literal.string(run_id), **chance,
        oversized_reason=exp.Literal.string(" records (more than " + str(max_size)
                                            + "), held together by a chain of matches"),
        band_reason=exp.Literal.string(" in the review band [" + str(lo) + ", " + str(hi) + ")"),
        **{f"member_{alias}": member(alias) for alias in ("s", "l", "r", "sb", "so")}))
    # what stewards decided is no longer open: pairs they merged or kept apart, clusters they merged
    con.execute(template(__file__, "decided_pairs"))
    pairs = [tuple(sorted(p)) for p in [*decided.must_link, *decided.cannot_link]]
    if pairs:
        insert_rows(con, "_decided_pairs", pairs)
    con.execute(_sql("queue_decided_pairs", review_queue=queue))
    con.execute(_sql("queue_decided_clusters", review_queue=queue))
    con.execute(_sql("drop_table", table=exp.to_table("_decided_pairs")))
    _settle_decided(con, spec.table("review_queue"), decided)
    for d in decided.pending:
        members = ", ".join(d["target_ids"][:6])
        con.execute(_sql("queue_pending", review_queue=queue),
                    [f"decision:{d['decision_id']}", f"pending approval: {d['action']} by {d['steward']}"
                     + (f" ({d['attribute']} = {d['value']})" if d["action"] == "choose_value" else "")
                     + f" on {members}; a second, different steward approves it (action approve)", run_id])


def _temp_exists(con: Connection, name: str) -> bool:
    return catalog.temp_table_exists(con, name)


def _impact(spec: EntitySpec) -> exp.Expression:
    """What a wrong decision on a record costs: the record, and beyond it a valid IBAN three times,
    a valid VAT ID twice (bank details and invoices go astray)."""
    def valid_count(column: str) -> exp.Expression:
        return exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=exp.column(column, table="s")))

    weighted = [(2, "iban_valid"), (1, "vat_id_valid")] if spec.declared is None else \
        [({"iban": 2, "vat_id": 1}[a.type], a.name + "_valid") for a in spec.declared if a.type in ("iban", "vat_id")]
    impact: exp.Expression = exp.Count(this=exp.Star())
    for weight, column in weighted:
        impact = exp.Add(this=impact, expression=exp.Mul(this=exp.convert(weight), expression=valid_count(column))
                         if weight != 1 else valid_count(column))
    return impact


def _settle_decided(con: Connection, table: str, decided: Constraints) -> None:
    """Items a steward's decision answers are decided (e.g. an IBAN chosen and approved), by the same
    rule the live queue uses between runs, so a decided item never comes back open."""
    rows = con.execute(_sql("queue_open_members", review_queue=table)).fetchall()
    settled = [(item, status) for item, members in rows if (status := item_status(item, members or [], decided))]
    if settled:
        con.execute(template(__file__, "settled"))
        insert_rows(con, "_settled", settled)
        con.execute(_sql("queue_settle", review_queue=table))
        con.execute(_sql("drop_table", table=exp.to_table("_settled")))


def _apply_overrides(con: Connection, spec: EntitySpec, decided: Constraints) -> int:
    """A steward's choose_value wins over survivorship, on the golden record holding most of the
    decision's records; the conflict rows say so."""
    applied = 0
    golden, conflicts = spec.table("golden"), spec.table("conflicts")
    for o in decided.overrides:
        rows = con.execute(template(__file__, "override_golden_id"), [o["records"]]).fetchall()
        if not rows:
            continue
        gid, attr, value = rows[0][0], o["attribute"], o["value"]
        sets = [attr]
        params: list = [value]
        valids = valid_of(spec)
        kinds = {attr: attr for attr in VALID_OF} if spec.declared is None else \
            {a.name: a.kind.python_check for a in spec.declared if a.kind.python_check}
        if attr in kinds:
            compact, valid = check_value(kinds[attr], value)
            sets = [attr, valids[attr]]
            params = [compact or value, valid]
        assignments = [exp.EQ(this=exp.column(column, quoted=True), expression=exp.Placeholder()) for column in sets]
        con.execute(_sql("override_golden", golden=golden, sets=assignments, attribute=exp.Literal.string(attr)),
                    [*params, gid])
        if attr in ("name", "legal_form") or spec.declared is not None:
            con.execute(_sql("override_display_name", golden=golden, display_name=display_expr(spec, None)), [gid])
        reason = f"steward {o['steward']} chose it (decision {o['decision_id']})"
        con.execute(_sql("override_conflicts", conflicts=conflicts), [value, value, reason, reason, gid, attr])
        applied += 1
    return applied


def _golden_changes(con: Connection, spec: EntitySpec, run_id: str, decided: Constraints) -> list[dict]:
    """Golden values that differ from the previous run's, as audit events (before / after)."""
    cols = [c for a in spec.attributes for c in a.columns]
    changed = exp.or_(*[exp.NullSafeNEQ(this=exp.column(c, table="b"), expression=exp.column(c, table="g"))
                        for c in cols])
    rows = con.execute(_sql("golden_changes", golden=spec.table("golden"), changed=exp.paren(changed),
                            before=[exp.column(c, table="b") for c in cols],
                            after=[exp.column(c, table="g") for c in cols])).fetchall()
    stewards = {}
    for o in decided.overrides:
        stewards.setdefault(o["attribute"], o["steward"])
    events = []
    n = len(cols)
    for row in rows:
        gid, before, after, new = row[0], row[1:1 + n], row[1 + n:1 + 2 * n], row[-1]
        changed = [c for c, b, a in zip(cols, before, after) if b != a]
        actor = next((f"steward:{stewards[c]}" for c in changed if c in stewards), f"rule:{spec.name}")
        events.append({"run_id": run_id, "actor": actor, "kind": "golden_change", "entity": spec.name, "object_id": gid,
                       "before": None if new else {c: _json(b) for c, b, a in zip(cols, before, after) if b != a},
                       "after": {c: _json(a) for c, b, a in zip(cols, before, after) if b != a or new},
                       "detail": "new golden record" if new else f"changed: {', '.join(changed)}"})
    return events


def replay_xref(audit_events: list[dict]) -> dict[str, str]:
    """Record → golden id as the audit trail's xref changes left it (oldest first)."""
    mapping: dict[str, str] = {}
    for event in audit_events:
        mapping.update(event.get("after") or {})
    return mapping


def _json(value):
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def sync_proposals(con: Connection, spec: EntitySpec, out_dir: Path) -> dict[str, Path]:
    """What each system would have to change to agree with the golden record: a table, and one CSV
    per system for import after sign-off. Attributes a system does not keep are not proposed;
    values in review (critical conflicts) and invalid golden values are never proposed."""
    std, golden, xref = spec.table("standardised"), spec.table("golden"), spec.table("xref")
    system = exp.column("source_system", table="s")

    def field(name: str, value: exp.Expression) -> exp.Expression:
        return exp.PropertyEQ(this=exp.to_identifier(name), expression=value)

    by_system = []
    for inp in spec.inputs:
        checks = [exp.Struct(expressions=[
            field("column_name", exp.Literal.string(column)), field("attribute", exp.Literal.string(attr)),
            field("current_value", exp.cast(current, "varchar")), field("proposed_value", exp.cast(proposed, "varchar")),
            field("proposable", exp.func("coalesce", guard, exp.false(), dialect="duckdb")),
            field("requires_signoff", exp.true() if attr in spec.critical else exp.false())])
            for attr, column, current, proposed, guard in _sync_checks(inp, spec)]
        if checks:
            by_system.append(exp.If(this=exp.Literal.string(inp.system), true=exp.Array(expressions=checks)))
    models = exp.Case(this=system.copy(), ifs=[exp.If(this=exp.Literal.string(inp.system), true=exp.Literal.string(inp.model))
                                               for inp in spec.inputs])
    checks = exp.Case(this=system.copy(), ifs=by_system or [exp.If(this=exp.null(), true=exp.Array(expressions=[]))])
    con.execute(_sql("sync_proposals", sync_proposals=spec.table("sync_proposals"), model=models, checks=checks,
                     xref=xref, standardised=std, golden=golden))
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for inp in spec.inputs:
        path = out_dir / (inp.system + ".csv")
        tmp = path.with_suffix(".csv.tmp")
        # people open these in a spreadsheet: text that would run as a formula is neutralised
        cells = [neutralise_expr(c) for c in ("source_id", "column", "attribute", "current_value",
                                              "proposed_value", "golden_id")]
        con.execute(_sql("sync_csv", cells=cells, sync_proposals=spec.table("sync_proposals"),
                         system=exp.Literal.string(inp.system), path=exp.Literal.string(str(tmp))))
        tmp.replace(path)
        written[inp.system] = path
    return written


def _sync_checks(inp, spec: EntitySpec | None = None) \
        -> list[tuple[str, str, exp.Expression, exp.Expression, exp.Expression]]:
    """(attribute, the system's column, its current value, the proposed value, when to propose) for
    the attributes a system keeps; ``s`` is its standardised record, ``g`` the golden record."""
    mapped = set(inp.columns)
    checks = []

    def s(column: str) -> exp.Column:
        return exp.column(column, table="s")

    def g(column: str) -> exp.Column:
        return exp.column(column, table="g")

    def present(column: str) -> exp.Expression:
        return g(column).is_(exp.null()).not_()

    if spec is not None and spec.declared is not None:
        # declared attributes: proposed where the golden value is present (and valid, for types
        # that validate) and the system's value differs from it once standardised: 'MÜLLER' and
        # 'Müller', '0941/123' and '+49 941 123' are one value, a typo is another
        valids = valid_of(spec)
        for a in spec.declared:
            # a reference holds another entity's golden id: never proposed into a system's id column
            if a.name in mapped and a.type != "reference":
                # the golden value's key by the type's own standardiser (IBAN/VAT ID: the key of its
                # compact form: "…MWST" and "…TVA" are one Swiss VAT ID, no proposal)
                value = g(a.name).sql("duckdb")
                golden_key = sqlglot.parse_one(a.kind.key_of(value) if a.kind.python_check
                                               else a.kind.key(value, a, spec.reference), read="duckdb")
                guard = [present(a.name), *([g(valids[a.name])] if a.name in valids else []),
                         exp.NullSafeNEQ(this=s(a.key), expression=golden_key)]
                checks.append((a.name, inp.columns[a.name], s(a.name), g(a.name), exp.and_(*guard)))
        return checks
    if "name" in mapped:
        proposed = g("display_name") if "legal_form" not in mapped else g("name")
        checks.append(("name", inp.columns["name"], s("name_raw"), proposed, present("name")))
    if "legal_form" in mapped:
        checks.append(("legal_form", inp.columns["legal_form"], s("legal_form"), g("legal_form"), present("legal_form")))
    if "street" in mapped:
        if "house_number" in mapped:
            checks.append(("street", inp.columns["street"], s("street"), g("street"), present("street")))
            checks.append(("house_number", inp.columns["house_number"], s("house_number"), g("house_number"),
                           present("house_number")))
        else:   # street and number in one field
            street = exp.func("concat_ws", exp.Literal.string(" "), g("street"), g("house_number"), dialect="duckdb")
            checks.append(("street", inp.columns["street"], s("street_raw"), street, present("street")))
    for attr in ("postcode", "city", "country", "email"):
        if attr in mapped:
            checks.append((attr, inp.columns[attr], s(attr), g(attr), present(attr)))
    if "phone" in mapped:   # "0941/123" and "+49 941 123" are the same number: no proposal
        checks.append(("phone", inp.columns["phone"], s("phone"), g("phone"),
                       exp.and_(present("phone"), exp.NullSafeNEQ(this=s("phone_key"), expression=g("phone_key")))))
    for attr, key in (("vat_id", "vat_key"), ("iban", "iban_key")):
        if attr in mapped:   # one number written two ways ("…MWST" / "…TVA"): no proposal
            golden_key = sqlglot.parse_one(TYPES[attr].key_of(g(attr).sql("duckdb")), read="duckdb")
            checks.append((attr, inp.columns[attr], s(attr), g(attr),
                           exp.and_(present(attr), g(VALID_OF[attr]), exp.NullSafeNEQ(this=s(key), expression=golden_key))))
    return checks
