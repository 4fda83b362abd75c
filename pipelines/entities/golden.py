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
import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipelines.core.csvsafe import neutralise_sql
from pipelines.entities.decisions import Constraints, item_status
from pipelines.entities.spec import Attribute, EntitySpec
from pipelines.entities.standardise import check_value
from pipelines.core.sql import literal
from pipelines.core.warehouse import insert_rows

# Matching key per attribute: "most frequent" counts values that are equal after standardisation.
KEY_OF = {"name": "name_key", "street": "street_key", "city": "city_key", "phone": "phone_key",
          "email": "email_key", "vat_id": "vat_id", "iban": "iban", "legal_form": "legal_form",
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


def display_sql(spec: EntitySpec, alias: str | None = "g") -> str:
    """The golden record's display name: company name with legal form, or the declared name
    attributes (company or person name parts) in their order, else the first attribute."""
    names = ["name", "legal_form"] if spec.declared is None else \
        [a.name for a in spec.declared if a.type in ("company_name", "person_name")] or [spec.declared[0].name]
    parts = ", ".join(f"{alias}.{n}" if alias else n for n in names)
    return f"trim(concat_ws(' ', {parts}))" if spec.declared is None else f"nullif(trim(concat_ws(' ', {parts})), '')"

HISTORY_DDL = """
create schema if not exists entities;
create table if not exists entities.{entity}_id_history (
    run_id varchar,
    recorded_at timestamp not null,
    golden_id varchar not null,
    event varchar not null,          -- created | merged_into | split_from | retired
    related_id varchar,
    members integer,
    detail varchar
);
"""


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


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, name = table.split(".")
    return bool(con.execute("select count(*) from duckdb_tables() where schema_name = ? and table_name = ?",
                            [schema, name]).fetchall()[0][0])


def new_id(prefix: str, seed: str, taken: set[str]) -> str:
    salt = 0
    while True:
        digest = hashlib.sha1(f"{seed}#{salt}".encode() if salt else seed.encode()).hexdigest()[:10]
        candidate = f"{prefix}-{digest}"
        if candidate not in taken:
            return candidate
        salt += 1


def assign_ids(con: duckdb.DuckDBPyConnection, spec: EntitySpec, clusters: str, run_id: str,
               previous: dict[str, str] | None = None) -> dict[str, int]:
    """``_members`` (unique_id, cluster_id, golden_id, prev_id) with stable golden ids; history appended.

    The previous ids come from the warehouse's xref, or, when the warehouse was rebuilt from
    scratch, from ``previous`` (record → golden id, replayed from the state store's audit trail)."""
    xref = spec.table("xref")
    history = spec.table("id_history")
    con.execute(HISTORY_DDL.format(entity=spec.name))
    if not _exists(con, xref) and previous:
        con.execute("create or replace temp table _previous_xref (unique_id varchar, golden_id varchar)")
        insert_rows(con, "_previous_xref", previous.items())
        xref = "_previous_xref"
    prev_join = f"left join {xref} x on x.unique_id = c.unique_id" if xref == "_previous_xref" or _exists(con, xref) else ""
    prev_col = "x.golden_id" if prev_join else "cast(null as varchar)"
    con.execute(f"create or replace temp table _members as select c.unique_id, c.cluster_id, {prev_col} as prev_id "
                f"from {clusters} c {prev_join}")
    candidates = con.execute("""select cluster_id, prev_id, count(*) as n from _members where prev_id is not null
                                group by 1, 2 order by n desc, cluster_id, prev_id""").fetchall()
    assigned: dict[str, str] = {}
    used: set[str] = set()
    for cluster, prev, _ in candidates:          # the largest continuations first
        if cluster not in assigned and prev not in used:
            assigned[cluster] = prev
            used.add(prev)
    taken = set(used) | {r[0] for r in con.execute(f"select distinct golden_id from {history}").fetchall()}
    if prev_join:
        taken |= {r[0] for r in con.execute(f"select distinct golden_id from {xref}").fetchall()}
    rows = con.execute("select cluster_id, min(unique_id) from _members group by 1 order by 2").fetchall()
    for cluster, first in rows:
        if cluster not in assigned:
            assigned[cluster] = new_id(spec.id_prefix, f"{spec.name}:{first}", taken)
            taken.add(assigned[cluster])
    con.execute("create or replace temp table _ids (cluster_id varchar, golden_id varchar)")
    insert_rows(con, "_ids", [(str(c), g) for c, g in assigned.items()])
    con.execute("""create or replace temp table _members as
                   select m.unique_id, m.prev_id, i.golden_id from _members m join _ids i on i.cluster_id = m.cluster_id::varchar""")
    # history: ids that appear, continue elsewhere, or disappear
    con.execute(f"""
    insert into {history}
    with flows as (select prev_id, golden_id, count(*) as n from _members where prev_id is not null group by 1, 2),
    prev_ids as (select distinct prev_id from _members where prev_id is not null),
    old as ({f"select golden_id as prev_id, count(*) as members from {xref} group by 1" if prev_join else
            "select cast(null as varchar) as prev_id, 0 as members where false"}),
    now_ids as (select golden_id, count(*) as members from _members group by 1),
    events as (
        -- a new id: either from scratch or split off an id that continues elsewhere
        select n.golden_id, case when f.prev_id is null then 'created' else 'split_from' end as event,
               f.prev_id as related_id, n.members
        from now_ids n
        left join (select * from flows qualify row_number() over (partition by golden_id order by n desc, prev_id) = 1) f
               on f.golden_id = n.golden_id
        where n.golden_id not in (select prev_id from prev_ids) and n.golden_id not in (select prev_id from old)
        union all
        -- an old id that no cluster continues: merged into where most of its members went, or retired
        select o.prev_id, case when f.golden_id is null then 'retired' else 'merged_into' end,
               f.golden_id, o.members
        from old o
        left join (select * from flows qualify row_number() over (partition by prev_id order by n desc, golden_id) = 1) f
               on f.prev_id = o.prev_id
        where o.prev_id not in (select golden_id from now_ids)
    )
    select {literal(run_id)}, now(), golden_id, event, related_id, members, null from events
    """)
    counts = con.execute(f"select event, count(*) from {history} where run_id = ? group by 1", [run_id]).fetchall()
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
            # spelled out rather than abbreviated ('Str.'), mixed rather than upper case, umlauts
            # rather than their transliteration: the form a person would write in a letter
            # a typo makes a rare word: prefer the value whose rarest word is most common in the
            # entity's values of this attribute ("Elstomertechnik" once, "Elastomertechnik" often)
            "common_spelling": "-rarest",
            "well_formed": "4 * (value = upper(value) and value <> lower(value))::int"
                           " + 2 * length(regexp_extract_all(value, '[A-Za-zäöüß]\\.'))"
                           " - length(regexp_extract_all(value, '[äöüßÄÖÜ]'))"}[rule]


def _case(whens: str) -> str:
    return f"case {whens} else 'tie broken by record id' end" if whens else "'tie broken by record id'"


def _candidates_sql(spec: EntitySpec, attr: Attribute) -> str:
    std = spec.table("standardised")
    cols = attr.columns
    value = cols[0] if len(cols) == 1 else "concat_ws(', ', " + ", ".join(f"coalesce({c}, '')" for c in cols) + ")"
    keys, valids = key_of(spec), valid_of(spec)
    key = keys.get(cols[0], cols[0]) if len(cols) == 1 else \
        "concat_ws('|', " + ", ".join(f"coalesce({keys.get(c, c)}, '')" for c in cols) + ")"
    valid = " and ".join(f"coalesce({valids[c]}, true)" for c in cols if c in valids) or "true"
    present = " or ".join(f"{c} is not null" for c in cols)
    prio = "case s.source_system " + " ".join(f"when {literal(sy)} then {i}" for i, sy in enumerate(attr.source_priority)) \
        + " else 999 end"
    return f"""
        select m.golden_id, {literal(attr.name)} as attribute, s.unique_id, s.source_system, s.source_id,
               s.updated_at, cast({value} as varchar) as value, cast({key} as varchar) as key, {valid} as valid,
               {prio} as prio
        from _members m join {std} s using (unique_id)
        where ({present})"""


def _latest_sql() -> str:
    """Per candidate, the newest date among the candidates that spell the same value (keys at
    most ``TYPO_EDITS`` edits apart): ``latest_change`` ranks by it."""
    # equal keys first, and the length test before the edit distance: both are cheap
    return f"""select a.unique_id, max(coalesce(epoch(b.updated_at), 0)) as latest from c0 a join c0 b
               on a.golden_id = b.golden_id
              and (a.key is not distinct from b.key
                   or (abs(length(a.key) - length(b.key)) <= {TYPO_EDITS}
                       and damerau_levenshtein(a.key, b.key) <= {TYPO_EDITS}))
               group by 1"""


def _rarity_sql() -> str:
    """Per candidate, how often its rarest word occurs among the attribute's values: the
    ``common_spelling`` rule ranks by it (only computed for attributes that use the rule: splitting
    every value into words is the costliest part of survivorship)."""
    return """with words as (select unique_id, unnest(regexp_split_to_array(lower(value), '[^a-z0-9äöüß]+')) as word from c0),
               corpus as (select word, count(*) as n from words where word <> '' group by 1)
               select w.unique_id, min(c.n) as rarest from words w join corpus c using (word) group by 1"""


def survivorship(con: duckdb.DuckDBPyConnection, spec: EntitySpec) -> None:
    """``_winners`` (golden_id, attribute, unique_id | null) and ``_cand``: every candidate's fate
    where the candidates disagree, the winner alone where they agree."""
    parts = []
    for attr in spec.attributes:
        rules = [r for r in attr.rules if r != "valid_only"]
        keys = [_rule_key(r) for r in rules]
        filt = "where valid" if "valid_only" in attr.rules else ""
        critical = [c for c in attr.columns if c in spec.critical]
        order = ", ".join([*keys, "unique_id"])
        rule_cols = ", ".join(f"{k} as r{i}" for i, k in enumerate(keys)) or "0 as r0"
        decisive = " ".join(f"when c.r{i} <> w.r{i} then {literal(r)}" for i, r in enumerate(rules))
        runner = " ".join(f"when s2.r{i} <> w.r{i} then {literal(r)}" for i, r in enumerate(rules))
        parts.append(f"""
        select * from (
            with c0 as ({_candidates_sql(spec, attr)}),
            rarity as ({_rarity_sql() if "common_spelling" in rules else "select null as unique_id, 0 as rarest"}),
            latest as ({_latest_sql() if "latest_change" in rules else "select null as unique_id, 0 as latest"}),
            c1 as (select c0.*, count(*) over (partition by golden_id, key) as freq, coalesce(r.rarest, 0) as rarest,
                          l.latest
                   from c0 left join rarity r using (unique_id) left join latest l using (unique_id)),
            nd as (select golden_id, count(distinct key) filter (where valid) as distinct_valid,
                          count(distinct key) as distinct_all from c1 group by 1),
            c as (select c1.*, nd.distinct_valid, nd.distinct_all, {rule_cols} from c1 join nd using (golden_id)),
            ranked as (select *, row_number() over (partition by golden_id order by {order}) as rank_valid from c {filt}),
            w as (select * from ranked where rank_valid = 1),
            second as (select * from ranked where rank_valid = 2)
            select c.golden_id, c.attribute, c.unique_id, c.source_system, c.source_id, c.updated_at, c.value, c.key,
                   c.valid, c.distinct_all,
                   {'c.distinct_valid > 1' if critical else 'false'} as critical_conflict,
                   w.unique_id as winner_uid, w.key as winner_key,
                   case when {'c.distinct_valid > 1' if critical else 'false'} then 'critical attribute disagrees: sent to review'
                        when w.unique_id is null then 'no valid value'
                        when c.unique_id = w.unique_id then
                             case when c.distinct_all = 1 then 'all candidates agree'
                                  when s2.golden_id is null then 'only valid value'
                                  else {_case(runner)} end
                        when not c.valid and {'true' if filt else 'false'} then 'valid_only'
                        when c.key = w.key then 'same value as the winner'
                        else {_case(decisive)}
                   end as reason
            from c left join w on w.golden_id = c.golden_id left join second s2 on s2.golden_id = c.golden_id
            -- where all candidates agree, only the winner is kept: nothing to list as a conflict
            where c.distinct_all > 1 or w.unique_id is null or c.unique_id = w.unique_id
        )""")
    con.execute("create or replace temp table _cand as " + "\nunion all\n".join(parts))
    con.execute("""create or replace temp table _winners as
                   select golden_id, attribute, any_value(case when not critical_conflict then winner_uid end) as unique_id,
                          bool_or(critical_conflict) as critical_conflict
                   from _cand group by 1, 2""")


def resolve(con: duckdb.DuckDBPyConnection, spec: EntitySpec, clusters: str, run_id: str,
            decided: Constraints | None = None, previous: dict[str, str] | None = None) -> Resolved:
    """Write golden, xref, clusters, conflicts, review queue and id history for one entity,
    honouring the stewards' effective decisions (``decided``)."""
    decided = decided or Constraints()
    had_golden = _exists(con, spec.table("golden"))
    if had_golden:
        con.execute(f"create or replace temp table _golden_before as select * from {spec.table('golden')}")
    events = assign_ids(con, spec, clusters, run_id, previous)
    id_changes = con.execute("select unique_id, prev_id, golden_id from _members where prev_id is distinct from golden_id "
                             "order by 1").fetchall()
    survivorship(con, spec)
    con.execute("create or replace temp table _steward_merged (unique_id varchar, steward varchar)")
    if decided.merged_by:
        insert_rows(con, "_steward_merged", decided.merged_by.items())
    std = spec.table("standardised")
    selects = []
    valids = valid_of(spec)
    for attr in spec.attributes:
        for col in attr.columns:
            selects.append(f"max(case when w.attribute = {literal(attr.name)} then s.{col} end) as {col}")
            if col == "phone" and spec.declared is None:      # compared by number, not by how it is written
                selects.append(f"max(case when w.attribute = {literal(attr.name)} then s.phone_key end) as phone_key")
            if col in valids:
                selects.append(f"max(case when w.attribute = {literal(attr.name)} then s.{valids[col]} end) as {valids[col]}")
    con.execute(f"""
    create or replace table {spec.table('golden')} as
    with g as (
        select w.golden_id, {', '.join(selects)},
               list(distinct w.attribute) filter (where w.critical_conflict) as attributes_in_review
        from _winners w left join {std} s on s.unique_id = w.unique_id
        group by 1
    ),
    m as (select m.golden_id, count(*) as member_count, list(distinct s.source_system order by s.source_system) as systems,
                 max(s.updated_at) as updated_at
          from _members m join {std} s using (unique_id) group by 1)
    select g.golden_id, {display_sql(spec)} as display_name,
           g.* exclude (golden_id, attributes_in_review), m.member_count, m.systems, m.updated_at,
           coalesce(g.attributes_in_review, []) as attributes_in_review
    from m left join g using (golden_id)
    order by g.golden_id
    """)
    con.execute(f"""
    create or replace table {spec.table('clusters')} as
    select m.golden_id, m.unique_id, s.source_system, s.source_id, m.prev_id as previous_golden_id,
           count(*) over (partition by m.golden_id) as cluster_size
    from _members m join {std} s using (unique_id) order by 1, 2
    """)
    con.execute(f"""
    create or replace table {spec.table('xref')} as
    with best as (   -- per record, its strongest pair inside its own cluster (one pass over the pairs)
        select uid, max(p) as p from (
            select unnest([p.unique_id_l, p.unique_id_r]) as uid, p.match_probability as p
            from {spec.table('pairs')} p join _members ml on ml.unique_id = p.unique_id_l
            join _members mr on mr.unique_id = p.unique_id_r and mr.golden_id = ml.golden_id
        ) group by 1
    )
    select s.source_system as system, s.source_id, s.unique_id, m.golden_id, b.p as match_probability,
           case when sm.unique_id is not null and c.cluster_size > 1 then 'steward'
                when c.cluster_size = 1 then 'singleton' else 'rule' end as matched_by
    from _members m join {std} s using (unique_id)
    join (select golden_id, count(*) as cluster_size from _members group by 1) c using (golden_id)
    left join best b on b.uid = m.unique_id
    left join _steward_merged sm on sm.unique_id = m.unique_id
    order by 1, 2
    """)
    con.execute(f"""
    create or replace table {spec.table('conflicts')} as
    select golden_id, attribute, value, source_system as system, source_id, unique_id, updated_at, valid,
           (unique_id = winner_uid and not critical_conflict) as won, reason
    from _cand where distinct_all > 1
    order by golden_id, attribute, won desc, system
    """)
    overridden = _apply_overrides(con, spec, decided)
    _review_queue(con, spec, run_id, decided)
    changes = _golden_changes(con, spec, run_id, decided) if had_golden else []
    if id_changes:   # which record belongs to which golden id: replayable after a rebuild from scratch
        changes.append({"run_id": run_id, "actor": f"rule:{spec.name}", "kind": "xref_change", "entity": spec.name,
                        "object_id": None, "before": {u: p for u, p, _ in id_changes if p is not None} or None,
                        "after": {u: g for u, _, g in id_changes}, "detail": f"{len(id_changes)} record(s) got a golden id"})
    n = lambda t: con.execute(f"select count(*) from {spec.table(t)}").fetchall()[0][0]  # noqa: E731
    clusters_n, multi = con.execute(f"select count(*), count(*) filter (where member_count > 1) from {spec.table('golden')}").fetchall()[0]
    open_items = con.execute(f"select count(*) from {spec.table('review_queue')} where status = 'open'").fetchall()[0][0]
    for temp in ("_members", "_ids", "_cand", "_winners", "_golden_before", "_steward_merged", "_previous_xref"):
        con.execute(f"drop table if exists {temp}")
    return Resolved(golden=n("golden"), clusters=clusters_n, multi_member=multi, review_items=open_items,
                    conflicts=n("conflicts"), sync_proposals=0, events=events, overridden=overridden, changes=changes)


# The chance that the automatic outcome of an item is wrong, by kind of item: a pair in the review
# band was kept apart, so its match probability is the chance that it is one entity; where a rule
# and Splink disagree, or a cluster holds together only through a chain, either way may be wrong.
CHANCE_WRONG = {"critical": 1.0, "chain": 0.5, "conflict": 0.5, "nameless": 0.5}


def _review_queue(con: duckdb.DuckDBPyConnection, spec: EntitySpec, run_id: str, decided: Constraints) -> None:
    """Open items, ranked by what a wrong decision would cost (``cost``, ``priority`` 1 = first):
    the chance the automatic outcome is wrong times what it affects (the records of the clusters
    involved, records with a valid IBAN counting three times and with a valid VAT ID twice: bank
    details and invoices go astray; a critical attribute in dispute doubles it). Items: critical
    conflicts, oversized clusters held together by a chain (not every pair a match), pairs in the
    review band that no ``distinct_when`` rule settles, pairs a rule kept apart against Splink's
    score (when the rule's ``review_when`` holds), records that match into two groups kept apart
    (one item each, with the candidates), records without a usable name."""
    from pipelines.entities.matching import distinct_sql

    std, pairs = spec.table("standardised"), spec.table("pairs")
    lo, hi = spec.thresholds["review_probability"], spec.thresholds["match_probability"]
    max_size = spec.thresholds["max_cluster_size"]
    kept = "_kept_apart" if con.execute("select count(*) from duckdb_tables() where temporary and table_name = '_kept_apart'"
                                        ).fetchall()[0][0] else \
        "(select null::varchar as unique_id_l, null::varchar as unique_id_r, null::double as match_probability, " \
        "[]::varchar[] as rules, false as listed where false)"
    fired, listed = distinct_sql(spec, "sl", "sr")
    bridges = "_bridges" if con.execute("select count(*) from duckdb_tables() where temporary and table_name = '_bridges'"
                                        ).fetchall()[0][0] else "(select null::varchar as unique_id where false)"

    def member(s: str) -> str:
        if spec.declared is not None:       # the declared attributes as written
            return (f"{{'unique_id': {s}.unique_id, 'system': {s}.source_system, 'source_id': {s}.source_id, "
                    + ", ".join(f"{literal(a.name)}: cast({s}.{a.name} as varchar)" for a in spec.declared) + "}")
        return (f"{{'unique_id': {s}.unique_id, 'system': {s}.source_system, 'source_id': {s}.source_id, "
                f"'name': {s}.name_raw, 'street': concat_ws(' ', {s}.street, {s}.house_number), "
                f"'postcode': {s}.postcode, 'city': {s}.city, 'vat_id': {s}.vat_id, 'iban': {s}.iban, "
                f"'email': {s}.email, 'phone': {s}.phone}}")
    con.execute(f"""
    create or replace table {spec.table('review_queue')} as
    with sizes as (select golden_id, count(*) as n from _members group by 1),
    impact as (select m.golden_id, count(*) {_impact_sql(spec)} as impact
               from _members m join {std} s using (unique_id) group by 1),
    strong as (select ml.golden_id, count(*) as k from {pairs} p
               join _members ml on ml.unique_id = p.unique_id_l join _members mr on mr.unique_id = p.unique_id_r
               where ml.golden_id = mr.golden_id and p.match_probability >= {hi} group by 1),
    chained as (select s.golden_id, s.n from sizes s left join strong k using (golden_id)
                where s.n > {max_size} and coalesce(k.k, 0) < s.n * (s.n - 1) / 2),
    listed as (select golden_id from _winners where critical_conflict union select golden_id from chained),
    members as (select m.golden_id, {member('s')} as rec
                from _members m semi join listed l on l.golden_id = m.golden_id join {std} s using (unique_id)),
    by_cluster as (select golden_id, list(rec order by rec.unique_id) as recs from members group by 1),
    critical as (
        select 'cluster:' || w.golden_id || ':' || w.attribute as item_id, 'cluster' as kind,
               'critical attribute ' || w.attribute || ' disagrees inside the cluster' as reason,
               [w.golden_id] as golden_ids, null::double as match_probability, b.recs as members,
               {CHANCE_WRONG['critical']} * 2 * i.impact as cost
        from _winners w join by_cluster b using (golden_id) join impact i using (golden_id) where w.critical_conflict
    ),
    oversized as (
        select 'cluster:' || c.golden_id || ':size', 'cluster',
               'unusual cluster size: ' || c.n || ' records (more than {max_size}), held together by a chain of matches',
               [c.golden_id], null::double, b.recs, {CHANCE_WRONG['chain']} * i.impact
        from chained c join by_cluster b using (golden_id) join impact i using (golden_id)
    ),
    band as (
        select 'pair:' || p.unique_id_l || '|' || p.unique_id_r, 'pair',
               'match probability ' || round(p.match_probability, 3) || ' in the review band [{lo}, {hi})',
               [ml.golden_id, mr.golden_id], p.match_probability,
               [{member('sl')}, {member('sr')}], p.match_probability * (il.impact + ir.impact)
        from {pairs} p join _members ml on ml.unique_id = p.unique_id_l join _members mr on mr.unique_id = p.unique_id_r
        join {std} sl on sl.unique_id = p.unique_id_l join {std} sr on sr.unique_id = p.unique_id_r
        join impact il on il.golden_id = ml.golden_id join impact ir on ir.golden_id = mr.golden_id
        where p.match_probability >= {lo} and p.match_probability < {hi} and ml.golden_id <> mr.golden_id
          -- a rule that says they are different entities settles it, unless its review_when holds
          and (len({fired}) = 0 or {listed})
    ),
    kept_apart as (
        -- Splink would have merged them, a distinct_when rule says they are different entities
        select 'pair:' || k.unique_id_l || '|' || k.unique_id_r, 'pair',
               'conflicting evidence: match probability ' || round(k.match_probability, 3) || ' but '
               || coalesce(nullif(array_to_string(k.rules, ', '), ''), 'a rule between their clusters')
               || ': kept apart',
               [ml.golden_id, mr.golden_id], k.match_probability,
               [{member('sl')}, {member('sr')}], {CHANCE_WRONG['conflict']} * (il.impact + ir.impact)
        from {kept} k join _members ml on ml.unique_id = k.unique_id_l join _members mr on mr.unique_id = k.unique_id_r
        join {std} sl on sl.unique_id = k.unique_id_l join {std} sr on sr.unique_id = k.unique_id_r
        join impact il on il.golden_id = ml.golden_id join impact ir on ir.golden_id = mr.golden_id
        where k.listed and ml.golden_id <> mr.golden_id
          -- a record matching into several groups is one item (ambiguous), not one per match
          and (len(k.rules) > 0 or (k.unique_id_l not in (select unique_id from {bridges})
                                    and k.unique_id_r not in (select unique_id from {bridges})))
    ),
    bridge_edges as (
        select b.unique_id as bridge, case when k.unique_id_l = b.unique_id then k.unique_id_r else k.unique_id_l end as other,
               k.match_probability
        from {kept} k join {bridges} b on b.unique_id in (k.unique_id_l, k.unique_id_r)
        where len(k.rules) = 0      -- the candidates: clusters the record has no rule against
    ),
    bridge_best as (   -- per bridge, its strongest match in each cluster it matches into
        select e.bridge, m.golden_id, arg_max(e.other, e.match_probability) as other, max(e.match_probability) as p
        from bridge_edges e join _members m on m.unique_id = e.other group by 1, 2
    ),
    ambiguous as (
        select 'record:' || b.bridge || ':ambiguous', 'record',
               'matches ' || count(*) || ' companies that are kept apart (different entities by a rule): which one is it, '
               || 'if any?',
               list_prepend(any_value(mb.golden_id), list(b.golden_id order by b.golden_id)), max(b.p),
               list_prepend(any_value({member('sb')}), list({member('so')} order by b.golden_id)),
               {CHANCE_WRONG['conflict']} * (any_value(ib.impact) + sum(io.impact))
        from bridge_best b join _members mb on mb.unique_id = b.bridge join {std} sb on sb.unique_id = b.bridge
        join {std} so on so.unique_id = b.other join impact ib on ib.golden_id = mb.golden_id
        join impact io on io.golden_id = b.golden_id
        group by b.bridge
    ),
    nameless as (
        select 'record:' || s.unique_id, 'record', 'no usable name: kept as its own golden record, not matched',
               [m.golden_id], null::double, [{member('s')}], {CHANCE_WRONG['nameless']} * i.impact
        from {std} s join _members m using (unique_id) join impact i on i.golden_id = m.golden_id where not ({spec.matchable})
    ),
    items as (select * from critical union all select * from oversized union all select * from band
              union all select * from kept_apart union all select * from ambiguous union all select * from nameless)
    select item_id, kind, reason, row_number() over (order by cost desc, item_id)::integer as priority, golden_ids,
           match_probability, members, 'open' as status, {literal(run_id)} as run_id, now() as listed_at,
           round(cost, 3) as cost
    from items
    order by priority
    """)
    # what stewards decided is no longer open: pairs they merged or kept apart, clusters they merged
    con.execute("create or replace temp table _decided_pairs (a varchar, b varchar)")
    pairs = [tuple(sorted(p)) for p in [*decided.must_link, *decided.cannot_link]]
    if pairs:
        insert_rows(con, "_decided_pairs", pairs)
    con.execute(f"""update {spec.table('review_queue')} q set status = 'decided'
                    where kind = 'pair' and exists (select 1 from _decided_pairs d
                        where 'pair:' || d.a || '|' || d.b = q.item_id)""")
    con.execute(f"""update {spec.table('review_queue')} q set status = 'decided'
                    where kind = 'cluster' and item_id like '%:size' and not exists (
                        select 1 from _members m where m.golden_id = q.golden_ids[1]
                        and m.unique_id not in (select unique_id from _steward_merged))""")
    con.execute("drop table _decided_pairs")
    _settle_decided(con, spec.table("review_queue"), decided)
    for d in decided.pending:
        members = ", ".join(d["target_ids"][:6])
        con.execute(f"""insert into {spec.table('review_queue')} (item_id, kind, reason, priority, golden_ids, match_probability,
                                members, status, run_id, listed_at, cost) values (?, 'decision', ?, 0, [], null, [], 'pending', ?, now(), null)""",
                    [f"decision:{d['decision_id']}", f"pending approval: {d['action']} by {d['steward']}"
                     + (f" ({d['attribute']} = {d['value']})" if d["action"] == "choose_value" else "")
                     + f" on {members}; a second, different steward approves it (action approve)", run_id])


def _impact_sql(spec: EntitySpec) -> str:
    """What a wrong decision on a record costs beyond the record itself: a valid IBAN three times,
    a valid VAT ID twice (bank details and invoices go astray)."""
    if spec.declared is None:
        return "+ 2 * count(*) filter (where s.iban_valid) + count(*) filter (where s.vat_id_valid)"
    weight = {"iban": 2, "vat_id": 1}
    return " ".join(f"+ {weight[a.type]} * count(*) filter (where s.{a.name}_valid)"
                    for a in spec.declared if a.type in weight)


def _settle_decided(con: duckdb.DuckDBPyConnection, table: str, decided: Constraints) -> None:
    """Items a steward's decision answers are decided (e.g. an IBAN chosen and approved), by the same
    rule the live queue uses between runs, so a decided item never comes back open."""
    rows = con.execute(f"select item_id, list_transform(members, lambda m: m.unique_id) from {table} "
                       "where status = 'open'").fetchall()
    settled = [(item, status) for item, members in rows if (status := item_status(item, members or [], decided))]
    if settled:
        con.execute("create or replace temp table _settled (item_id varchar, status varchar)")
        insert_rows(con, "_settled", settled)
        con.execute(f"update {table} q set status = s.status from _settled s where s.item_id = q.item_id")
        con.execute("drop table _settled")


def _apply_overrides(con: duckdb.DuckDBPyConnection, spec: EntitySpec, decided: Constraints) -> int:
    """A steward's choose_value wins over survivorship, on the golden record holding most of the
    decision's records; the conflict rows say so."""
    applied = 0
    golden, conflicts = spec.table("golden"), spec.table("conflicts")
    for o in decided.overrides:
        rows = con.execute(f"""select golden_id, count(*) from _members where unique_id in (select unnest(?::varchar[]))
                               group by 1 order by 2 desc, 1 limit 1""", [o["records"]]).fetchall()
        if not rows:
            continue
        gid, attr, value = rows[0][0], o["attribute"], o["value"]
        sets = [f"{attr} = ?"]
        params: list = [value]
        valids = valid_of(spec)
        kinds = {attr: attr for attr in VALID_OF} if spec.declared is None else \
            {a.name: a.kind.python_check for a in spec.declared if a.kind.python_check}
        if attr in kinds:
            compact, valid = check_value(kinds[attr], value)
            sets = [f"{attr} = ?", f"{valids[attr]} = ?"]
            params = [compact or value, valid]
        con.execute(f"update {golden} set {', '.join(sets)}, attributes_in_review = list_filter(attributes_in_review, "
                    f"lambda a: a <> '{attr}') where golden_id = ?", [*params, gid])
        if attr in ("name", "legal_form") or spec.declared is not None:
            con.execute(f"update {golden} set display_name = {display_sql(spec, None)} where golden_id = ?", [gid])
        reason = f"steward {o['steward']} chose it (decision {o['decision_id']})"
        con.execute(f"""update {conflicts} set won = (value = ?), reason = case when value = ? then ? else ? end
                        where golden_id = ? and attribute = ?""", [value, value, reason, reason, gid, attr])
        applied += 1
    return applied


def _golden_changes(con: duckdb.DuckDBPyConnection, spec: EntitySpec, run_id: str, decided: Constraints) -> list[dict]:
    """Golden values that differ from the previous run's, as audit events (before / after)."""
    cols = [c for a in spec.attributes for c in a.columns]
    diff = " or ".join(f"b.{c} is distinct from g.{c}" for c in cols)
    rows = con.execute(f"""
        select g.golden_id, {', '.join(f'b.{c}' for c in cols)}, {', '.join(f'g.{c}' for c in cols)}, b.golden_id is null
        from {spec.table('golden')} g left join _golden_before b using (golden_id)
        where b.golden_id is null or {diff}
        order by 1""").fetchall()
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


def sync_proposals(con: duckdb.DuckDBPyConnection, spec: EntitySpec, out_dir: Path) -> dict[str, Path]:
    """What each system would have to change to agree with the golden record: a table, and one CSV
    per system for import after sign-off. Attributes a system does not keep are not proposed;
    values in review (critical conflicts) and invalid golden values are never proposed."""
    std, golden, xref = spec.table("standardised"), spec.table("golden"), spec.table("xref")
    by_system = []
    for inp in spec.inputs:
        checks = [f"{{'column_name': {literal(column)}, 'attribute': {literal(attr)}, "
                  f"'current_value': cast({current} as varchar), 'proposed_value': cast({proposed} as varchar), "
                  f"'proposable': coalesce({guard}, false), 'requires_signoff': {str(attr in spec.critical).lower()}}}"
                  for attr, column, current, proposed, guard in _sync_checks(inp, spec)]
        if checks:
            by_system.append(f"when {literal(inp.system)} then [{', '.join(checks)}]")
    models = " ".join(f"when {literal(inp.system)} then {literal(inp.model)}" for inp in spec.inputs)
    # one pass over the records: each system's list of checks, unnested, kept where it proposes a change
    con.execute(f"""
    create or replace table {spec.table('sync_proposals')} as
    select system, source_id, model, p.column_name, p.attribute, p.current_value, p.proposed_value, golden_id,
           p.requires_signoff
    from (
        select s.source_system as system, s.source_id, case s.source_system {models} end as model, x.golden_id,
               g.attributes_in_review, unnest(case s.source_system {' '.join(by_system) or 'when null then []'} end) as p
        from {xref} x join {std} s using (unique_id) join {golden} g using (golden_id)
    )
    where p.proposable and not list_contains(attributes_in_review, p.attribute)
      and coalesce(p.current_value, '') <> p.proposed_value
    order by system, source_id, p.attribute
    """)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for inp in spec.inputs:
        path = out_dir / f"{inp.system}.csv"
        tmp = path.with_suffix(".csv.tmp")
        # people open these in a spreadsheet: text that would run as a formula is neutralised
        cells = ", ".join(neutralise_sql(c) for c in ("source_id", "column", "attribute", "current_value",
                                                      "proposed_value", "golden_id"))
        con.execute(f"""copy (select {cells}, requires_signoff from (
                                  select source_id, column_name as "column", attribute, current_value, proposed_value,
                                         golden_id, requires_signoff
                                  from {spec.table('sync_proposals')} where system = {literal(inp.system)})
                              order by source_id, attribute)
                        to {literal(str(tmp))} (format csv, header)""")
        tmp.replace(path)
        written[inp.system] = path
    return written


def _sync_checks(inp, spec: EntitySpec | None = None) -> list[tuple[str, str, str, str, str]]:
    """(attribute, the system's column, its current value, the proposed value, when to propose) for
    the attributes a system keeps; ``s`` is its standardised record, ``g`` the golden record."""
    mapped = set(inp.columns)
    checks = []
    if spec is not None and spec.declared is not None:
        # declared attributes: proposed where the golden value is present (and valid, for types
        # that validate) and the system's value differs from it once standardised: 'MÜLLER' and
        # 'Müller', '0941/123' and '+49 941 123' are one value, a typo is another
        valids = valid_of(spec)
        for a in spec.declared:
            # a reference holds another entity's golden id: never proposed into a system's id column
            if a.name in mapped and a.type != "reference":
                # the golden value's key by the type's own standardiser (IBAN/VAT ID: the compact
                # form, which is the key of a valid one)
                golden_key = f"g.{a.name}" if a.kind.python_check else a.kind.key(f"g.{a.name}", a, spec.reference)
                guard = f"g.{a.name} is not null" + (f" and g.{valids[a.name]}" if a.name in valids else "") \
                    + f" and s.{a.key} is distinct from {golden_key}"
                checks.append((a.name, inp.columns[a.name], f"s.{a.name}", f"g.{a.name}", guard))
        return checks
    if "name" in mapped:
        proposed = "g.display_name" if "legal_form" not in mapped else "g.name"
        checks.append(("name", inp.columns["name"], "s.name_raw", proposed, "g.name is not null"))
    if "legal_form" in mapped:
        checks.append(("legal_form", inp.columns["legal_form"], "s.legal_form", "g.legal_form", "g.legal_form is not null"))
    if "street" in mapped:
        if "house_number" in mapped:
            checks.append(("street", inp.columns["street"], "s.street", "g.street", "g.street is not null"))
            checks.append(("house_number", inp.columns["house_number"], "s.house_number", "g.house_number",
                           "g.house_number is not null"))
        else:   # street and number in one field
            checks.append(("street", inp.columns["street"], "s.street_raw", "concat_ws(' ', g.street, g.house_number)",
                           "g.street is not null"))
    for attr in ("postcode", "city", "country", "email"):
        if attr in mapped:
            checks.append((attr, inp.columns[attr], f"s.{attr}", f"g.{attr}", f"g.{attr} is not null"))
    if "phone" in mapped:   # "0941/123" and "+49 941 123" are the same number: no proposal
        checks.append(("phone", inp.columns["phone"], "s.phone", "g.phone",
                       "g.phone is not null and s.phone_key is distinct from g.phone_key"))
    for attr in ("vat_id", "iban"):
        if attr in mapped:
            checks.append((attr, inp.columns[attr], f"s.{attr}", f"g.{attr}", f"g.{attr} is not null and g.{VALID_OF[attr]}"))
    return checks


def summary_json(resolved: Resolved) -> str:
    return json.dumps(resolved.__dict__, default=str)
