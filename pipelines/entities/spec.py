"""Entity declarations: ``models/entities/<entity>.yml``, checked before any run.

An entity file names each system's staging model and maps its columns onto one shared schema,
holds the Splink settings in Splink's own vocabulary, the training recipe, the thresholds and the
survivorship rules. ``_reference.yml`` beside it holds the standardisation reference data (legal
forms, abbreviations, city aliases). Every problem is reported as ``file:line: message``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from pipelines.core import parsed, yamlfile
from pipelines.core.errors import Problem, ProjectError
from pipelines.core.settings import Settings
from pipelines.core.errors import did_you_mean
from pipelines.core.yamlfile import LineDict, LineList
from pipelines.entities.types import ATTRIBUTE_KEYS, TYPES, AttributeDecl, default_splink, default_training

# The shared schema every system's record is mapped onto.
SHARED = ("name", "legal_form", "street", "house_number", "postcode", "city", "country",
          "vat_id", "iban", "email", "phone", "updated_at")
MAPPABLE = (*SHARED, "name_addition")
# Columns of the standardised input (entities.<entity>_standardised): what Splink may compare.
KEYS = ("name_key", "name_words", "name_trunc", "street_key", "city_key", "phone_key", "email_key", "email_domain",
        "vat_key", "iban_key")
STANDARDISED = ("unique_id", "source_system", "source_id", "name_raw", "street_raw", *SHARED[:8], "vat_id_valid",
                "iban", "iban_valid", "email", "phone", "updated_at", *KEYS)
# Golden-record attributes chosen by survivorship (``address`` is a group chosen from one record).
ATTRIBUTES = ("name", "legal_form", "street", "house_number", "postcode", "city", "country",
              "vat_id", "iban", "email", "phone")
RULES = ("valid_only", "most_frequent", "latest_change", "common_spelling", "well_formed", "source_priority", "most_recent",
         "most_complete")
VALIDATED = {"vat_id": "vat_id_valid", "iban": "iban_valid"}
LINK_TYPES = ("link_and_dedupe", "dedupe_only", "link_only")
TOP_KEYS = ("entity", "description", "id_prefix", "owner", "like", "attributes", "inputs", "splink", "training",
            "thresholds", "distinct_when", "survivorship", "ground_truth")
# A rule of `distinct_when:` keeps two records apart; a pair Splink would have merged is listed for
# review when `review_when` (SQL on the pair too; default: always) also holds: conflicting evidence.
RULE_KEYS = ("rule", "sql_condition", "review_when")
INPUT_KEYS = ("system", "model", "id", "columns", "name_max_length", "name_cut_at")
TRAINING_DEFAULTS = {"deterministic_rules": [], "recall": 0.85, "u_max_pairs": 2_000_000,
                     "em_blocking_rules": [], "em_max_pairs": 1_000_000, "seed": 1,
                     "drift": {"records_change": 0.25, "null_share_change": 0.10}}
THRESHOLD_DEFAULTS = {"match_probability": 0.8, "review_probability": 0.05, "max_cluster_size": 3}
# Settings Kontor owns: the standardised table decides them.
FIXED_SPLINK = {"unique_id_column_name": "unique_id", "source_dataset_column_name": "source_dataset",
                "retain_matching_columns": True, "retain_intermediate_calculation_columns": True,
                "additional_columns_to_retain": ["source_system", "source_id", "name_raw"]}


@dataclass(frozen=True)
class EntityInput:
    system: str
    model: str
    id: str
    columns: dict[str, str]                 # shared attribute -> column of the staging model
    name_max_length: int | None = None
    name_cut_at: int | None = None


@dataclass(frozen=True)
class Attribute:
    """One survivorship decision: a single attribute or a group chosen together from one record."""
    name: str
    columns: tuple[str, ...]
    rules: tuple[str, ...]
    source_priority: tuple[str, ...]


@dataclass(frozen=True)
class DistinctRule:
    """Evidence that two records are different entities, as a SQL condition on ``<column>_l`` /
    ``<column>_r`` of the standardised input; it outweighs any match probability."""
    name: str
    sql: str
    review_when: str = "true"


@dataclass
class EntitySpec:
    name: str
    file: str
    description: str
    id_prefix: str
    owner: str | None
    inputs: list[EntityInput]
    splink: dict[str, Any]                  # Splink settings dictionary, Kontor's fixed keys included
    training: dict[str, Any]
    thresholds: dict[str, Any]
    attributes: list[Attribute]
    critical: tuple[str, ...]
    reference: dict[str, Any]
    ground_truth: dict[str, str] = field(default_factory=dict)
    distinct_when: list[DistinctRule] = field(default_factory=list)
    # declared attributes (``attributes:``); None: the fixed company schema (SHARED, STANDARDISED)
    declared: list[AttributeDecl] | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns of the standardised input."""
        return STANDARDISED if self.declared is None else generic_columns(self.declared)

    @property
    def matchable(self) -> str:
        """SQL: a standardised record Splink can match (others stay alone and go to review)."""
        if self.declared is None:
            return "name_key is not null"
        return "coalesce(" + ", ".join(a.key for a in self.declared) + ") is not null"

    @property
    def fingerprint_keys(self) -> list[str]:
        if self.declared is None:
            return ["name_key", "street_key", "postcode", "city_key", "vat_key", "iban_key", "email_key", "phone_key"]
        return [a.key for a in self.declared]

    @property
    def systems(self) -> list[str]:
        return [i.system for i in self.inputs]

    @property
    def settings_hash(self) -> str:
        """Changes when anything that shapes the trained model changes."""
        parts = [self.splink, self.training, self.reference, [r.__dict__ for r in self.distinct_when],
                 [i.__dict__ for i in self.inputs]]
        if self.declared is not None:       # the company path's hash stays as it was
            parts.append([a.__dict__ for a in self.declared])
        text = json.dumps(parts, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def table(self, part: str) -> str:
        return f"entities.{self.name}_{part}"


# Tables each entity writes, and their columns: SQL models may ref() them (``ref('customer_xref')``).
OUTPUT_COLUMNS = {
    "golden": ["golden_id", "display_name", *ATTRIBUTES, "vat_id_valid", "iban_valid", "phone_key",
               "member_count", "systems", "updated_at", "attributes_in_review"],
    "xref": ["system", "source_id", "unique_id", "golden_id", "match_probability", "matched_by"],
    "clusters": ["golden_id", "unique_id", "source_system", "source_id", "previous_golden_id", "cluster_size"],
    "standardised": list(STANDARDISED),
    "conflicts": ["golden_id", "attribute", "value", "system", "source_id", "unique_id", "updated_at", "valid", "won", "reason"],
    "review_queue": ["item_id", "kind", "reason", "priority", "golden_ids", "match_probability", "members", "status",
                     "run_id", "listed_at", "cost"],
    "sync_proposals": ["system", "source_id", "model", "column_name", "attribute", "current_value", "proposed_value",
                       "golden_id", "requires_signoff"],
}


def generic_columns(declared: list[AttributeDecl]) -> tuple[str, ...]:
    return ("unique_id", "source_system", "source_id", "updated_at", *[c for a in declared for c in a.columns()])


def entity_outputs(project_dir: Path) -> dict[str, tuple[str, list[str]]]:
    """``<entity>_<part>`` → (relation, columns) for every entity file, read from file names only,
    so models can be compiled before the entity files are checked against them."""
    folder = project_dir / "models" / "entities"
    paths = sorted(p for p in folder.glob("*.y*ml") if not p.name.startswith("_")) if folder.is_dir() else []
    out = {}
    for path in paths:
        columns = {**OUTPUT_COLUMNS, **_declared_outputs(path)}
        out.update({f"{path.stem}_{part}": (f"entities.{path.stem}_{part}", cols) for part, cols in columns.items()})
    return out


def _declared_outputs(path: Path) -> dict[str, list[str]]:
    """Golden and standardised columns of an entity file that declares its attributes (names and
    types only; a broken file is reported by :func:`load_entities`, here it keeps the defaults)."""
    try:
        doc = yamlfile.load(path, path.name)
    except ProjectError:
        return {}
    attrs = doc.get("attributes") if isinstance(doc, dict) else None
    if not isinstance(attrs, dict):
        return {}
    declared = []
    for name, value in attrs.items():
        kind = value if isinstance(value, str) else value.get("type") if isinstance(value, dict) else None
        if isinstance(name, str) and kind in TYPES:
            declared.append(AttributeDecl(name, kind))
    attributes = [c for a in declared for c in (a.name, f"{a.name}_valid")[:2 if a.kind.validates else 1]]
    return {"golden": ["golden_id", "display_name", *attributes, "member_count", "systems",
                       "updated_at", "attributes_in_review"],
            "standardised": list(generic_columns(declared))}


@dataclass
class EntityProject:
    entities: dict[str, EntitySpec]
    problems: list[Problem]


def load_reference(path: Path, rel: str, problems: list[Problem]) -> dict[str, Any]:
    """``_reference.yml``: legal forms, abbreviations, city aliases, freemail domains."""
    if not path.is_file():
        return {}
    try:
        doc = yamlfile.load(path, rel)
    except ProjectError as exc:
        problems.extend(exc.problems)
        return {}
    known = ("legal_forms", "name_abbreviations", "street_abbreviations", "branch_prefixes", "city_aliases",
             "freemail_domains", "default_calling_code", "display_spellings")
    for key in doc or {}:
        if key not in known:
            problems.append(Problem(rel, doc.key_line(key), f"unknown key {key!r}{did_you_mean(str(key), set(known))}"))
    for key in ("name_abbreviations", "street_abbreviations"):
        for item in (doc or {}).get(key) or []:
            if not (isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)):
                problems.append(Problem(rel, getattr(item, "line", doc.key_line(key)),
                                        f"{key}: each entry is [pattern, replacement]"))
    return dict(doc or {})


def load_entities(settings: Settings, model_columns: dict[str, list[str] | None]) -> EntityProject:
    """Every ``models/entities/*.yml`` except files starting with ``_``; problems collected.

    ``model_columns`` maps each model name to its output columns (None when unknown), so a mapping
    onto a column the staging model does not produce is caught before a run."""
    folder = settings.project_dir / "models" / "entities"
    problems: list[Problem] = []
    if not folder.is_dir():
        return EntityProject({}, problems)
    reference = load_reference(folder / "_reference.yml", settings.relative(folder / "_reference.yml"), problems)
    docs: dict[str, tuple[str, LineDict]] = {}
    for path in sorted(folder.glob("*.y*ml")):
        if path.name.startswith("_"):
            continue
        rel = settings.relative(path)
        try:
            doc = yamlfile.load(path, rel)
        except ProjectError as exc:
            problems.extend(exc.problems)
            continue
        if not isinstance(doc, LineDict):
            problems.append(Problem(rel, 1, "an entity file is a mapping with 'entity:', 'inputs:', 'splink:' ..."))
            continue
        name = doc.get("entity", path.stem)
        if name != path.stem:
            problems.append(Problem(rel, doc.key_line("entity"), f"entity {name!r} must be named like its file ({path.stem!r})"))
            continue
        docs[name] = (rel, doc)
    entities = {}
    for name, (rel, doc) in docs.items():
        spec = _entity(name, rel, doc, docs, reference, model_columns, problems)
        if spec is not None:
            entities[name] = spec
    return EntityProject(entities, problems)


def _inherited(doc: LineDict, docs: dict[str, tuple[str, LineDict]], key: str, rel: str,
               problems: list[Problem]) -> tuple[Any, str, LineDict]:
    """``key`` of this entity, else of the entity named in ``like:``. Returns (value, file, mapping)."""
    if key in doc:
        return doc[key], rel, doc
    like = doc.get("like")
    if like is None:
        return None, rel, doc
    if like not in docs:
        problems.append(Problem(rel, doc.key_line("like"), f"like: unknown entity {like!r}{did_you_mean(str(like), set(docs))}"))
        return None, rel, doc
    other_rel, other = docs[like]
    return other.get(key), other_rel, other


def _entity(name: str, rel: str, doc: LineDict, docs: dict[str, tuple[str, LineDict]], reference: dict,
            model_columns: dict[str, list[str] | None], problems: list[Problem]) -> EntitySpec | None:
    before = len(problems)
    for key in doc:
        if key not in TOP_KEYS:
            problems.append(Problem(rel, doc.key_line(key), f"unknown key {key!r}{did_you_mean(str(key), set(TOP_KEYS))}"))
    attrs_doc, attrs_rel, attrs_parent = _inherited(doc, docs, "attributes", rel, problems)
    declared = None if attrs_doc is None else _declared(attrs_rel, attrs_doc, attrs_parent, problems)
    for a in declared or []:
        other = a.options.get("entity")
        if a.type == "reference" and (other not in docs or other == name):
            problems.append(Problem(attrs_rel, attrs_doc.key_line(a.name), f"attribute {a.name!r}: a reference needs "
                                    f"'entity:' naming another entity file{did_you_mean(str(other), set(docs) - {name})}"))
    # the fixed company schema when no attributes are declared; the declared ones otherwise
    columns = STANDARDISED if declared is None else generic_columns(declared)
    names = ATTRIBUTES if declared is None else tuple(a.name for a in declared)
    inputs = _inputs(rel, doc, model_columns, problems,
                     mappable=MAPPABLE if declared is None else (*names, "updated_at"),
                     required=("name",) if declared is None else ())
    systems = [i.system for i in inputs]
    splink_doc, splink_rel, splink_parent = _inherited(doc, docs, "splink", rel, problems)
    splink = _splink(splink_rel, splink_doc, splink_parent, problems, columns) if splink_doc is not None else None
    if splink_doc is None and declared is None:
        problems.append(Problem(rel, doc.line, "missing 'splink:' settings (or 'like: <entity>' to share them, "
                                "or 'attributes:' with types that bring their comparisons)"))
    elif splink_doc is None and declared:
        splink = _splink(rel, _as_lines(default_splink(declared, len(inputs)), doc.line), _lines({"splink": 0}, doc.line),
                         problems, columns)
    training_doc, training_rel, _ = _inherited(doc, docs, "training", rel, problems)
    if training_doc is None and declared:
        training_doc = _as_lines(default_training(declared), doc.line)
    training = _training(training_rel, training_doc or _empty(doc.line), problems, columns)
    thresholds_doc, thresholds_rel, _ = _inherited(doc, docs, "thresholds", rel, problems)
    thresholds = _thresholds(thresholds_rel, thresholds_doc or _empty(doc.line), problems)
    rules_doc, rules_rel, rules_parent = _inherited(doc, docs, "distinct_when", rel, problems)
    distinct_when = _distinct_rules(rules_rel, rules_doc, rules_parent, problems, columns)
    # the types' own "different" rules, for attributes declared distinct: true
    distinct_when += [DistinctRule(f"different {a.name}", a.kind.different(a)) for a in declared or []
                      if a.distinct and a.kind.different(a)]
    surv_doc, surv_rel, _ = _inherited(doc, docs, "survivorship", rel, problems)
    attributes, critical = _survivorship(surv_rel, surv_doc or _empty(doc.line), systems, problems,
                                         inherited=surv_rel != rel, names=names)
    if declared is not None and surv_doc is None:
        # defaults from the types: each attribute's own rules, critical as declared
        attributes = [Attribute(a.name, (a.name,), a.kind.survivorship, tuple(systems)) for a in declared]
        critical = tuple(a.name for a in declared if a.critical)
    gt = doc.get("ground_truth") or {}
    if len(problems) > before or splink is None:
        return None
    return EntitySpec(name=name, file=rel, description=str(doc.get("description") or "").strip(),
                      id_prefix=str(doc.get("id_prefix") or name[:1].upper()), owner=doc.get("owner"),
                      inputs=inputs, splink=splink, training=training, thresholds=thresholds,
                      attributes=attributes, critical=critical, reference=reference,
                      ground_truth={k: str(v) for k, v in gt.items()}, distinct_when=distinct_when, declared=declared)


def _lines(value: Any, line: int) -> Any:
    """Plain dicts and lists as LineDict/LineList at ``line``: defaults built from the types go
    through the same checks as a written block, and a problem points at the entity's first line."""
    if isinstance(value, dict):
        out = LineDict()
        out.line, out.key_lines = line, {}
        for k, v in value.items():
            out[k] = _lines(v, line)
            out.key_lines[k] = line
        return out
    if isinstance(value, list):
        items = LineList(_lines(v, line) for v in value)
        items.line = line
        items.item_lines = [line] * len(value)
        return items
    return value


_as_lines = _lines


def _declared(rel: str, doc: Any, parent: LineDict, problems: list[Problem]) -> list[AttributeDecl] | None:
    """``attributes:``: name -> type, or {type, block, critical, tf, <type options>}."""
    if not isinstance(doc, LineDict) or not doc:
        problems.append(Problem(rel, parent.key_line("attributes"), "'attributes:' maps each attribute name to its type "
                                f"({', '.join(TYPES)}) or to {{type: ..., block: true, critical: true, tf: true}}"))
        return None
    declared = []
    for name, value in doc.items():
        line = doc.key_line(name)
        if not isinstance(name, str) or not name.isidentifier() or name.lower() != name:
            problems.append(Problem(rel, line, f"attribute name {name!r} must be a lower-case identifier (it becomes a column)"))
            continue
        if isinstance(value, str):
            value = {"type": value}
        if not isinstance(value, dict) or not isinstance(value.get("type"), str):
            problems.append(Problem(rel, line, f"attribute {name!r} needs 'type:' (one of {', '.join(TYPES)})"))
            continue
        kind = value["type"]
        if kind not in TYPES:
            problems.append(Problem(rel, value.key_line("type") if isinstance(value, LineDict) else line,
                                    f"attribute {name!r}: unknown type {kind!r}{did_you_mean(kind, set(TYPES))}; "
                                    f"types: {', '.join(TYPES)}"))
            continue
        allowed = ("type", "block", "critical", "tf", "distinct", *TYPES[kind].options)
        for key in value:
            if key not in allowed:
                problems.append(Problem(rel, value.key_line(key) if isinstance(value, LineDict) else line,
                                        f"attribute {name!r}: unknown key {key!r}"
                                        f"{did_you_mean(str(key), set(allowed) | set(ATTRIBUTE_KEYS))}"))
        flags = {}
        for key in ("block", "critical", "tf", "distinct"):
            flag = value.get(key, False)
            if not isinstance(flag, bool):
                problems.append(Problem(rel, value.key_line(key), f"attribute {name!r}: {key} is true or false"))
            flags[key] = bool(flag)
        options = {k: _plain(value[k]) for k in TYPES[kind].options if k in value}
        formats = options.get("formats")
        if formats is not None and not (isinstance(formats, list) and formats and all(isinstance(f, str) for f in formats)):
            problems.append(Problem(rel, value.key_line("formats"), f"attribute {name!r}: formats is a list of strptime "
                                    "formats such as ['%Y%m%d', '%d.%m.%Y']"))
        decl = AttributeDecl(name, kind, options=options, **flags)
        if decl.distinct and decl.kind.different(decl) is None:
            problems.append(Problem(rel, value.key_line("distinct"), f"attribute {name!r}: type {kind!r} has no rule for "
                                    "'different entities' (types with one: date, identifier, vat_id, register_number); remove 'distinct'"))
        declared.append(decl)
    return declared


def _empty(line: int) -> LineDict:
    """An absent block: defaults apply, and a problem in it points at the entity's first line."""
    doc = LineDict()
    doc.line, doc.key_lines = line, {}
    return doc


def _distinct_rules(rel: str, doc: Any, parent: LineDict, problems: list[Problem],
                    columns: tuple[str, ...] = STANDARDISED) -> list[DistinctRule]:
    """``distinct_when:``: a list of {rule, sql_condition, action}."""
    if doc is None:
        return []
    if not isinstance(doc, list):
        problems.append(Problem(rel, parent.key_line("distinct_when"), "'distinct_when:' is a list of rules "
                                "(rule: <name>, sql_condition: <SQL on column_l / column_r>, review_when: <SQL>)"))
        return []
    rules = []
    for index, item in enumerate(doc):
        line = getattr(item, "line", None) or _item_line(doc, index, parent.key_line("distinct_when"))
        if not isinstance(item, LineDict) or not isinstance(item.get("sql_condition"), str) or not item.get("rule"):
            problems.append(Problem(rel, line, "a distinct_when rule needs 'rule' (its name) and 'sql_condition'"))
            continue
        for key in item:
            if key not in RULE_KEYS:
                problems.append(Problem(rel, item.key_line(key), f"unknown key {key!r} in a distinct_when rule"
                                        f"{did_you_mean(str(key), set(RULE_KEYS))}"))
        _check_columns(rel, item.key_line("sql_condition"), item["sql_condition"], "distinct_when", problems, columns)
        review_when = item.get("review_when", True)
        if isinstance(review_when, bool):
            review_when = "true" if review_when else "false"
        elif not isinstance(review_when, str):
            problems.append(Problem(rel, item.key_line("review_when"), "review_when is SQL on the pair, or true / false"))
            review_when = "true"
        else:
            _check_columns(rel, item.key_line("review_when"), review_when, "distinct_when review_when", problems, columns)
        rules.append(DistinctRule(str(item["rule"]), " ".join(item["sql_condition"].split()), " ".join(review_when.split())))
    return rules


def _inputs(rel: str, doc: LineDict, model_columns: dict[str, list[str] | None], problems: list[Problem],
            mappable: tuple[str, ...] = MAPPABLE, required: tuple[str, ...] = ("name",)) -> list[EntityInput]:
    raw = doc.get("inputs")
    if not raw:
        problems.append(Problem(rel, doc.key_line("inputs") if "inputs" in doc else doc.line,
                                "an entity needs 'inputs:', one per system (system, model, id, columns)"))
        return []
    inputs, seen = [], set()
    for item in raw:
        line = getattr(item, "line", raw.line)
        if not isinstance(item, LineDict):
            problems.append(Problem(rel, line, "an input is a mapping: system, model, id, columns"))
            continue
        for key in item:
            if key not in INPUT_KEYS:
                problems.append(Problem(rel, item.key_line(key), f"unknown key {key!r} in input{did_you_mean(str(key), set(INPUT_KEYS))}"))
        system, model, id_col = item.get("system"), item.get("model"), item.get("id")
        if not all(isinstance(v, str) for v in (system, model, id_col)):
            problems.append(Problem(rel, line, "an input needs 'system', 'model' and 'id'"))
            continue
        if system in seen:
            problems.append(Problem(rel, item.key_line("system"), f"system {system!r} is listed twice"))
        seen.add(system)
        if model not in model_columns:
            problems.append(Problem(rel, item.key_line("model"), f"unknown model {model!r}{did_you_mean(model, set(model_columns))}"))
            continue
        available = model_columns[model]
        columns = item.get("columns") or LineDict()
        mapping = {}
        for attr, column in columns.items():
            attr_line = columns.key_line(attr) if isinstance(columns, LineDict) else item.key_line("columns")
            if attr not in mappable:
                problems.append(Problem(rel, attr_line, f"unknown attribute {attr!r}; the attributes are "
                                        f"{', '.join(mappable)}{did_you_mean(str(attr), set(mappable))}"))
            elif available is not None and column not in available:
                problems.append(Problem(rel, attr_line, f"unknown column {column!r} of model {model!r} for {attr!r}"
                                        f"{did_you_mean(str(column), set(available))}"))
            else:
                mapping[attr] = str(column)
        if available is not None and id_col not in available:
            problems.append(Problem(rel, item.key_line("id"), f"unknown id column {id_col!r} of model {model!r}"
                                    f"{did_you_mean(id_col, set(available))}"))
        for attr in required:
            if attr not in mapping:
                problems.append(Problem(rel, item.key_line("columns") if "columns" in item else line,
                                        f"input {system!r} must map {attr!r}"))
        if not mapping:
            problems.append(Problem(rel, item.key_line("columns") if "columns" in item else line,
                                    f"input {system!r} maps no attribute ('columns: {{attribute: column}}')"))
        ints = {}
        for key in ("name_max_length", "name_cut_at"):
            value = item.get(key)
            if value is not None and (not isinstance(value, int) or value < 1):
                problems.append(Problem(rel, item.key_line(key), f"{key} must be a positive whole number"))
            ints[key] = value
        inputs.append(EntityInput(system, model, id_col, mapping, **ints))
    return inputs


def referenced_columns(sql: str) -> set[str]:
    """Column names a Splink SQL condition or blocking rule uses, ``_l``/``_r`` and ``l.``/``r.`` removed."""
    if sql.strip().upper() == "ELSE":
        return set()
    tree = parsed.parse_one(sql, read="duckdb")
    names = set()
    for col in tree.find_all(exp.Column):
        name = col.name
        if col.table in ("l", "r"):
            names.add(name)
        elif name.endswith(("_l", "_r")):
            names.add(name[:-2])
        else:
            names.add(name)
    return names


def _check_columns(rel: str, line: int, sql: str, what: str, problems: list[Problem],
                   columns: tuple[str, ...] = STANDARDISED) -> None:
    try:
        used = referenced_columns(sql)
    except sqlglot.errors.ParseError as exc:
        problems.append(Problem(rel, line, f"{what}: cannot parse {sql!r}: {str(exc).splitlines()[0]}"))
        return
    for column in sorted(used - set(columns)):
        problems.append(Problem(rel, line, f"{what}: unknown column {column!r}{did_you_mean(column, set(columns))}; "
                                "comparable columns are those of the standardised input"))


def _splink(rel: str, doc: Any, parent: LineDict, problems: list[Problem],
            columns: tuple[str, ...] = STANDARDISED) -> dict[str, Any] | None:
    """The Splink settings dictionary, with named library comparisons expanded to their levels."""
    import splink.comparison_library as cl
    from splink import SettingsCreator

    line = parent.key_line("splink")
    if not isinstance(doc, LineDict):
        problems.append(Problem(rel, line, "'splink:' is a mapping of Splink settings"))
        return None
    before = len(problems)
    settings = {k: v for k, v in doc.items() if k not in ("comparisons", "blocking_rules_to_generate_predictions")}
    for key in FIXED_SPLINK:
        if key in settings:
            problems.append(Problem(rel, doc.key_line(key), f"{key!r} is set by Kontor (the standardised input decides it); remove it"))
    if settings.get("link_type") not in LINK_TYPES:
        problems.append(Problem(rel, doc.key_line("link_type") if "link_type" in doc else doc.line,
                                f"link_type must be one of {', '.join(LINK_TYPES)}"))
    comparisons = []
    for item in doc.get("comparisons") or []:
        item_line = getattr(item, "line", doc.key_line("comparisons"))
        if not isinstance(item, LineDict):
            problems.append(Problem(rel, item_line, "a comparison is a mapping (comparison_levels, or comparison: <name> with its arguments)"))
            continue
        if "comparison" in item:
            name = item["comparison"]
            # the comparisons splink.comparison_library exports (its public surface)
            known = set(cl.__all__)
            creator = getattr(cl, str(name)) if name in known else None
            if creator is None:
                problems.append(Problem(rel, item.key_line("comparison"), f"unknown comparison {name!r}{did_you_mean(str(name), known)}; "
                                        "use a class of splink.comparison_library or write comparison_levels"))
                continue
            args = {k: v for k, v in item.items() if k not in ("comparison", "configure")}
            for arg in ("col_name", "col_name_l"):
                if isinstance(args.get(arg), str) and args[arg] not in columns:
                    problems.append(Problem(rel, item.key_line(arg), f"comparison {name}: unknown column {args[arg]!r}"
                                            f"{did_you_mean(args[arg], set(columns))}"))
            try:
                built = creator(**args)
                if item.get("configure"):
                    built = built.configure(**item["configure"])
                comparisons.append(built.get_comparison("duckdb").as_dict())
            except Exception as exc:  # Splink raises TypeError / ValueError / its own errors for bad arguments
                problems.append(Problem(rel, item.line, f"comparison {name}: invalid arguments: {exc}"))
            continue
        levels = item.get("comparison_levels")
        if not levels:
            problems.append(Problem(rel, item.line, "a comparison needs 'comparison_levels' or 'comparison: <name>'"))
            continue
        for level in levels:
            level_line = getattr(level, "line", item.line)
            if not isinstance(level, LineDict) or not isinstance(level.get("sql_condition"), str):
                problems.append(Problem(rel, level_line, "a comparison level needs 'sql_condition'"))
                continue
            _check_columns(rel, level_line, level["sql_condition"], "sql_condition", problems, columns)
            tf = level.get("tf_adjustment_column")
            if tf is not None and tf not in columns:
                problems.append(Problem(rel, level.key_line("tf_adjustment_column"), f"unknown column {tf!r} for term-frequency adjustment"
                                        f"{did_you_mean(str(tf), set(columns))}"))
            for key in ("m_probability", "u_probability"):
                if key in level and not (isinstance(level[key], (int, float)) and 0 < level[key] <= 1):
                    problems.append(Problem(rel, level.key_line(key), f"{key} must be a number in (0, 1]"))
        comparisons.append(_plain(item))
    if not comparisons and len(problems) == before:
        problems.append(Problem(rel, doc.line, "'splink:' needs at least one comparison"))
    rules = []
    raw_rules = doc.get("blocking_rules_to_generate_predictions") or LineList()
    for index, rule in enumerate(raw_rules):
        text = rule.get("blocking_rule") if isinstance(rule, dict) else rule
        rule_line = getattr(rule, "line", None) or _item_line(raw_rules, index, doc.key_line("blocking_rules_to_generate_predictions"))
        if not isinstance(text, str):
            problems.append(Problem(rel, rule_line, "a blocking rule is SQL text such as 'l.postcode = r.postcode'"))
            continue
        _check_columns(rel, rule_line, text, "blocking rule", problems, columns)
        rules.append(_plain(rule) if isinstance(rule, dict) else {"blocking_rule": text, "sql_dialect": "duckdb"})
    if not rules:
        problems.append(Problem(rel, doc.line, "'splink:' needs blocking_rules_to_generate_predictions (without them every pair is compared)"))
    fixed = FIXED_SPLINK if columns is STANDARDISED else \
        {**FIXED_SPLINK, "additional_columns_to_retain": ["source_system", "source_id"]}
    result = {**_plain(settings), **fixed, "comparisons": comparisons, "blocking_rules_to_generate_predictions": rules}
    if len(problems) == before:
        try:
            SettingsCreator.from_path_or_dict(result).get_settings("duckdb")
        except Exception as exc:  # Splink's own validation: unknown keys, bad values
            problems.append(Problem(rel, line, f"Splink rejects these settings: {str(exc).splitlines()[0]}"))
    return result if len(problems) == before else None


def _item_line(items: Any, index: int, default: int) -> int:
    return items.item_line(index) if isinstance(items, LineList) else default


def _plain(value: Any) -> Any:
    """LineDict/LineList back to plain dicts and lists (Splink serialises them)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _training(rel: str, doc: LineDict, problems: list[Problem], columns: tuple[str, ...] = STANDARDISED) -> dict[str, Any]:
    for key in doc:
        if key not in TRAINING_DEFAULTS:
            problems.append(Problem(rel, doc.key_line(key), f"unknown training key {key!r}{did_you_mean(str(key), set(TRAINING_DEFAULTS))}"))
    training = {**TRAINING_DEFAULTS, **_plain(doc)}
    for key in ("deterministic_rules", "em_blocking_rules"):
        for index, rule in enumerate(training[key]):
            _check_columns(rel, _item_line(doc.get(key), index, doc.key_line(key)), str(rule), f"training {key}", problems, columns)
    if not (isinstance(training["recall"], (int, float)) and 0 < training["recall"] <= 1):
        problems.append(Problem(rel, doc.key_line("recall"), "recall must be a number in (0, 1]"))
    return training


def _thresholds(rel: str, doc: LineDict, problems: list[Problem]) -> dict[str, Any]:
    for key in doc:
        if key not in THRESHOLD_DEFAULTS:
            problems.append(Problem(rel, doc.key_line(key), f"unknown threshold {key!r}{did_you_mean(str(key), set(THRESHOLD_DEFAULTS))}"))
    values = {**THRESHOLD_DEFAULTS, **_plain(doc)}
    for key in ("match_probability", "review_probability"):
        v = values[key]
        if not (isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1):
            problems.append(Problem(rel, doc.key_line(key), f"{key} {v!r} is out of range; fix: a probability between 0 and 1 (exclusive)"))
    if all(isinstance(values[k], (int, float)) for k in ("match_probability", "review_probability")) \
            and values["review_probability"] >= values["match_probability"]:
        problems.append(Problem(rel, doc.key_line("review_probability"), "review_probability must be below match_probability"))
    if not (isinstance(values["max_cluster_size"], int) and values["max_cluster_size"] >= 2):
        problems.append(Problem(rel, doc.key_line("max_cluster_size"), "max_cluster_size must be a whole number >= 2"))
    return values


def _survivorship(rel: str, doc: LineDict, systems: list[str], problems: list[Problem],
                  inherited: bool = False, names: tuple[str, ...] = ATTRIBUTES) -> tuple[list[Attribute], tuple[str, ...]]:
    """Survivorship rules; absent, defaults apply. Taken from another entity (``like:``), its
    priorities name systems this entity may not have: those are left out, not reported."""
    for key in doc:
        if key not in ("source_priority", "default", "attributes", "critical"):
            problems.append(Problem(rel, doc.key_line(key), f"unknown survivorship key {key!r}"))
    priority = tuple(doc.get("source_priority") or systems)
    default = tuple(doc.get("default") or ("valid_only", "most_frequent", "source_priority", "most_recent"))

    def check_rules(rules, line) -> tuple[str, ...]:
        for rule in rules:
            if rule not in RULES:
                problems.append(Problem(rel, line, f"unknown survivorship rule {rule!r}{did_you_mean(str(rule), set(RULES))}; "
                                        f"rules: {', '.join(RULES)}"))
        return tuple(rules)

    def check_priority(order, line) -> tuple[str, ...]:
        if inherited:
            return tuple(system for system in order if system in systems)
        for system in order:
            if system not in systems:
                problems.append(Problem(rel, line, f"source_priority: unknown system {system!r}{did_you_mean(str(system), set(systems))}"))
        return tuple(order)

    priority = check_priority(priority, doc.key_line("source_priority"))
    default = check_rules(default, doc.key_line("default"))
    configured: dict[str, Attribute] = {}
    attrs = doc.get("attributes") or _empty(doc.line)
    for name, value in attrs.items():
        line = attrs.key_line(name)
        if isinstance(value, list):
            value = {"rules": value}
        if not isinstance(value, dict):
            problems.append(Problem(rel, line, f"attribute {name!r}: a list of rules or a mapping (rules, source_priority, columns)"))
            continue
        columns = tuple(value.get("columns") or (name,))
        for column in columns:
            if column not in names:
                problems.append(Problem(rel, line, f"unknown attribute {column!r}{did_you_mean(str(column), set(names))}"))
        configured[name] = Attribute(name, columns, check_rules(value.get("rules") or default, line),
                                     check_priority(value.get("source_priority") or priority, line))
    grouped = {c for a in configured.values() for c in a.columns}
    for a in list(configured.values()):
        overlap = [c for c in a.columns if sum(c in b.columns for b in configured.values()) > 1]
        if overlap:
            problems.append(Problem(rel, attrs.key_line(a.name), f"attribute(s) {', '.join(overlap)} chosen twice"))
    attributes = list(configured.values()) + [Attribute(c, (c,), default, priority) for c in names if c not in grouped]
    critical = tuple(doc.get("critical") or ())
    for c in critical:
        if c not in names:
            problems.append(Problem(rel, doc.key_line("critical"), f"critical: unknown attribute {c!r}{did_you_mean(str(c), set(names))}"))
    return attributes, critical
