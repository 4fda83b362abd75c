"""Entity declarations: ``models/entities/<entity>.yml``, checked before any run.

An entity file names each system's staging model and maps its columns onto the entity's
attributes (declared by type in ``attributes:``, or the fixed company schema), holds the Splink
settings in Splink's own vocabulary, the training recipe, the thresholds, the rules that keep
different entities apart and the survivorship rules; ``_reference.yml`` beside it holds the
reference data of the company types (legal forms, abbreviations, city aliases, countries).

The files are read in two steps. Each file is validated on its own as pydantic models
(``EntityFileSpec`` and its parts) by the shared loader ``pipelines.core.spec.validate``: types,
defaults, unknown keys with did-you-mean, every problem at its line. Then :func:`load_entities`
checks what only the other files can tell (the staging models and their columns, ``like:``,
the columns of the standardised input that Splink settings and rules may use) and builds the
engine's view, :class:`EntitySpec`. Every problem is reported as ``file:line: message``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import sqlglot
from pydantic import AfterValidator, ConfigDict, Field, field_validator
from sqlglot import exp

from pipelines.core import parsed, yamlfile
from pipelines.core.errors import Problem, ProjectError, did_you_mean
from pipelines.core.settings import Settings
from pipelines.core.spec import Mapping, Spec, plain, validate
from pipelines.core.yamlfile import LineDict, LineList
from pipelines.entities.splink_check import SplinkAnswers
from pipelines.entities.types import TYPES, AttributeDecl, default_splink, default_training, type_rules

# The shared schema every system's record is mapped onto.
SHARED = ("name", "legal_form", "street", "house_number", "postcode", "city", "country",
          "vat_id", "iban", "email", "phone", "updated_at")
# A system that has them maps a second name line and the commercial register number too.
MAPPABLE = (*SHARED, "name_addition", "register_number")
# Columns of the standardised input (entities.<entity>_standardised): what Splink may compare.
KEYS = ("name_key", "name_words", "name_trunc", "street_key", "city_key", "phone_key", "email_key", "email_domain",
        "vat_key", "iban_key")
STANDARDISED = ("unique_id", "source_system", "source_id", "name_raw", "street_raw", *SHARED[:8], "vat_id_valid",
                "iban", "iban_valid", "email", "phone", "updated_at", *KEYS,
                "register_number", "register_number_valid", "register_key")
# Golden-record attributes chosen by survivorship (``address`` is a group chosen from one record).
ATTRIBUTES = ("name", "legal_form", "street", "house_number", "postcode", "city", "country",
              "vat_id", "iban", "email", "phone", "register_number")
RULES = ("valid_only", "most_frequent", "latest_change", "common_spelling", "well_formed", "source_priority", "most_recent",
         "most_complete")
VALIDATED = {"vat_id": "vat_id_valid", "iban": "iban_valid"}
LINK_TYPES = ("link_and_dedupe", "dedupe_only", "link_only")
# Splink stops sampling u once every comparison level has this many random pairs: Splink's
# default. Measured on the demo customers, legal_form's u is 42 % off the whole sample's at 100,
# 8 % at 1,000, 0.2 % at 10,000; but 1,000 and more (like None) make
# tests/entities/test_small_data_training.py[3-150] merge one pair of different contacts.
U_MIN_COUNT_PER_LEVEL = 100
TRAINING_DEFAULTS = {"deterministic_rules": [], "recall": 0.85, "u_max_pairs": 2_000_000,
                     "u_min_count_per_level": U_MIN_COUNT_PER_LEVEL,
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
    # "cluster": no two records of one golden record may fire it; "match": a match on which it
    # fires does not join the two records by itself (another chain of matches still may)
    scope: str = "cluster"


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
        # Splink's own default, as before the key existed: the same model, so no retraining
        training = {k: v for k, v in self.training.items()
                    if not (k == "u_min_count_per_level" and v == U_MIN_COUNT_PER_LEVEL)}
        # a rule's default scope, as before the key existed: the same hash
        rules = [{k: v for k, v in r.__dict__.items() if not (k == "scope" and v == "cluster")} for r in self.distinct_when]
        parts = [self.splink, training, self.reference, rules,
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
        spec, _ = validate(EntityFileSpec, yamlfile.load(path, path.name), path.name)
    except ProjectError:
        return {}
    if spec is None or not spec.attributes:
        return {}
    declared = [a.decl(name) for name, a in spec.attributes.items() if _attribute_name_ok(name)]
    attributes = [c for a in declared for c in (a.name, f"{a.name}_valid")[:2 if a.kind.validates else 1]]
    return {"golden": ["golden_id", "display_name", *attributes, "member_count", "systems",
                       "updated_at", "attributes_in_review"],
            "standardised": list(generic_columns(declared))}


@dataclass
class EntityProject:
    entities: dict[str, EntitySpec]
    problems: list[Problem]


# ------------------------------------------------------------------ the files as written (pydantic)


def _line_dict(values: dict[str, Any], line: int, key_lines: dict[str, int] | None = None) -> LineDict:
    out = LineDict(values)
    out.line, out.key_lines = line, dict(key_lines or {k: line for k in values})
    return out


def _lines(value: Any, line: int) -> Any:
    """Plain dicts and lists as LineDict/LineList at ``line``: defaults built from the types go
    through the same models as a written block, and a problem points at the entity's first line."""
    if isinstance(value, dict):
        return _line_dict({k: _lines(v, line) for k, v in value.items()}, line)
    if isinstance(value, list):
        items = LineList(_lines(v, line) for v in value)
        items.line, items.item_lines = line, [line] * len(value)
        return items
    return value


def _sql_list(value: Any) -> Any:
    """A list of SQL conditions, kept as written (a LineList knows each item's line)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("a list of SQL conditions such as 'l.vat_key = r.vat_key'")
    return value


def _blocking_rules(value: Any) -> Any:
    if not isinstance(value, list):
        raise ValueError("blocking_rules_to_generate_predictions is a list of SQL conditions "
                         "such as 'l.postcode = r.postcode'")
    return value


def _rule(rule: str) -> str:
    if rule not in RULES:
        raise ValueError(f"unknown survivorship rule {rule!r}{did_you_mean(str(rule), set(RULES))}; "
                         f"rules: {', '.join(RULES)}")
    return rule


def _pair(item: Any) -> Any:
    if not (isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)):
        raise ValueError("each entry is [pattern, replacement]")
    return item


SqlList = Annotated[Any, AfterValidator(_sql_list)]
Rule = Annotated[str, AfterValidator(_rule)]
Pair = Annotated[Any, AfterValidator(_pair)]


class ReferenceSpec(Spec):
    """``_reference.yml``: the reference data of the company types."""

    what: ClassVar[str] = "reference file"

    legal_forms: dict[str, list[str]] = {}
    legal_forms_in_full_only: list[str] = []
    name_abbreviations: list[Pair] = []
    street_abbreviations: list[Pair] = []
    branch_prefixes: list[str] = []
    city_aliases: dict[str, str] = {}
    freemail_domains: list[str] = []
    default_calling_code: str | int | None = None
    display_spellings: Mapping = Field(default_factory=dict)
    countries: dict[str, list[str]] = {}
    person_name_affixes: list[str] = []
    person_name_generations: dict[str, list[str]] = {}
    given_name_short_forms: dict[str, list[str]] = {}

    @field_validator("countries")
    @classmethod
    def _iso_codes(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        """Each key an ISO 3166-1 alpha-2 code; no spelling of two countries."""
        seen: dict[str, str] = {}
        for code, spellings in value.items():
            if not (len(code) == 2 and code.isascii() and code.isalpha() and code.isupper()):
                raise ValueError(f"countries: {code!r} is not an ISO 3166-1 alpha-2 code (two capital letters)")
            for spelling in [code, *spellings]:
                for key in TYPES["country"].spelling_keys(spelling):
                    if seen.get(key, code) != code:
                        raise ValueError(f"countries: {spelling!r} is listed for both {seen[key]} and {code}; "
                                         "keep it for one")
                    seen[key] = code
        return value

    @field_validator("name_abbreviations", "street_abbreviations", mode="before")
    @classmethod
    def _each_a_pair(cls, value: Any, info) -> Any:
        if not isinstance(value, list):
            raise ValueError(f"{info.field_name}: each entry is [pattern, replacement]")
        return value


class InputSpec(Spec):
    """One system's records: ``system``, ``model``, ``id``, ``columns``."""

    what: ClassVar[str] = "input"
    shape: ClassVar[str] = "a mapping: system, model, id, columns"

    system: str = Field(description="the system's name")
    model: str = Field(description="the staging model")
    id: str = Field(description="the model's id column")
    columns: Mapping = Field(default_factory=dict, description="a mapping {attribute: column}")
    name_max_length: int | None = None
    name_cut_at: int | None = None

    @field_validator("name_max_length", "name_cut_at", mode="before")
    @classmethod
    def _positive(cls, value: Any, info) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{info.field_name} must be a positive whole number")
        return value


class AttributeSpec(Spec):
    """One declared attribute: its type (``types.py``) and what the entity does with it."""

    what: ClassVar[str] = "attribute"
    shape: ClassVar[str] = f"a type ({', '.join(TYPES)}) or {{type: ..., block: true, critical: true, tf: true}}"

    type: str = Field(description=f"one of {', '.join(TYPES)}")
    block: bool = Field(False, description="true or false")
    critical: bool = Field(False, description="true or false")
    tf: bool = Field(False, description="true or false")
    distinct: bool = Field(False, description="true or false")
    formats: list[str] | None = None
    entity: str | None = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, kind: str) -> str:
        if kind not in TYPES:
            raise ValueError(f"unknown type {kind!r}{did_you_mean(kind, set(TYPES))}; types: {', '.join(TYPES)}")
        return kind

    @field_validator("formats", mode="before")
    @classmethod
    def _strptime_formats(cls, value: Any) -> Any:
        if not (isinstance(value, list) and value and all(isinstance(f, str) for f in value)):
            raise ValueError("formats is a list of strptime formats such as ['%Y%m%d', '%d.%m.%Y']")
        return value

    def problems(self):
        for option in ("formats", "entity"):
            if getattr(self, option) is not None and option not in TYPES[self.type].options:
                yield self.key_line(option), f"unknown key {option!r} for type {self.type!r}"

    def decl(self, name: str) -> AttributeDecl:
        options = {k: plain(getattr(self, k)) for k in TYPES[self.type].options if getattr(self, k) is not None}
        return AttributeDecl(name, self.type, block=self.block, critical=self.critical, tf=self.tf,
                             options=options, distinct=self.distinct)


class LevelSpec(Spec):
    """A Splink comparison level; keys beyond these are Splink's, checked by Splink."""

    model_config = ConfigDict(extra="allow", frozen=True)
    what: ClassVar[str] = "comparison level"

    sql_condition: str = Field(description="SQL on column_l / column_r, or ELSE")
    m_probability: float | None = None
    u_probability: float | None = None
    tf_adjustment_column: str | None = None

    @field_validator("m_probability", "u_probability", mode="before")
    @classmethod
    def _probability(cls, value: Any, info) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise ValueError(f"{info.field_name} must be a number in (0, 1]")
        return value


class ComparisonSpec(Spec):
    """A Splink comparison: written level by level, or ``comparison: <name>`` of
    ``splink.comparison_library`` with its arguments."""

    model_config = ConfigDict(extra="allow", frozen=True)
    what: ClassVar[str] = "comparison"
    shape: ClassVar[str] = "a mapping (comparison_levels, or comparison: <name> with its arguments)"

    comparison: str | None = None
    configure: Mapping | None = None
    comparison_levels: list[LevelSpec] | None = None

    def problems(self):
        if self.comparison is None and not self.comparison_levels and not self.rejected("comparison_levels") \
                and not self.rejected("comparison"):
            yield self.line, "a comparison needs 'comparison_levels' or 'comparison: <name>'"

    def arguments(self) -> dict[str, Any]:
        """The library comparison's arguments (everything but its name and ``configure``)."""
        return dict(self.model_extra or {})


class SplinkSpec(Spec):
    """Splink's settings dictionary in Splink's own vocabulary; the keys not named here go to
    Splink as written, and Splink checks them."""

    model_config = ConfigDict(extra="allow", frozen=True)
    what: ClassVar[str] = "splink settings"
    shape: ClassVar[str] = "a mapping of Splink settings"

    link_type: Literal["link_and_dedupe", "dedupe_only", "link_only"] | None = Field(
        None, description=f"one of {', '.join(LINK_TYPES)}")
    comparisons: list[ComparisonSpec] = []
    blocking_rules_to_generate_predictions: Annotated[Any, AfterValidator(_blocking_rules)] = None

    def problems(self):
        for key in FIXED_SPLINK:
            if key in (self.model_extra or {}):
                yield self.key_line(key), f"{key!r} is set by Kontor (the standardised input decides it); remove it"
        if self.link_type is None and not self.rejected("link_type"):
            yield self.line, f"link_type must be one of {', '.join(LINK_TYPES)}"

    def settings(self) -> dict[str, Any]:
        """The settings other than comparisons and blocking rules, as plain values."""
        return {**plain(dict(self.model_extra or {})), "link_type": self.link_type}


class DriftSpec(Spec):
    what: ClassVar[str] = "drift"

    records_change: float = 0.25
    null_share_change: float = 0.10


class TrainingSpec(Spec):
    """How the model is trained (no labels needed)."""

    what: ClassVar[str] = "training"

    deterministic_rules: SqlList = Field(default_factory=list)
    recall: float = 0.85
    u_max_pairs: int = 2_000_000
    u_min_count_per_level: int | None = U_MIN_COUNT_PER_LEVEL
    em_blocking_rules: SqlList = Field(default_factory=list)
    em_max_pairs: int = 1_000_000
    seed: int = 1
    drift: DriftSpec = DriftSpec()

    @field_validator("recall", mode="before")
    @classmethod
    def _share(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise ValueError("recall must be a number in (0, 1]")
        return value

    def as_dict(self) -> dict[str, Any]:
        return {**{k: plain(getattr(self, k)) for k in TRAINING_DEFAULTS if k != "drift"},
                "drift": self.drift.model_dump()}


class ThresholdsSpec(Spec):
    """Pairs at or above ``match_probability`` merge; those in [review, match) go to review."""

    what: ClassVar[str] = "thresholds"

    match_probability: float = THRESHOLD_DEFAULTS["match_probability"]
    review_probability: float = THRESHOLD_DEFAULTS["review_probability"]
    max_cluster_size: int = THRESHOLD_DEFAULTS["max_cluster_size"]

    @field_validator("match_probability", "review_probability", mode="before")
    @classmethod
    def _probability(cls, value: Any, info) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise ValueError(f"{info.field_name} {value!r} is out of range; fix: a probability between 0 and 1 (exclusive)")
        return value

    @field_validator("max_cluster_size", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise ValueError("max_cluster_size must be a whole number >= 2")
        return value

    def problems(self):
        if not (self.rejected("match_probability") or self.rejected("review_probability")) \
                and self.review_probability >= self.match_probability:
            yield self.key_line("review_probability"), "review_probability must be below match_probability"

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in THRESHOLD_DEFAULTS}


class DistinctRuleSpec(Spec):
    """Evidence that two records are different entities (``distinct_when:``); a pair Splink would
    have merged is listed for review when ``review_when`` (SQL on the pair too; default: always)
    also holds: conflicting evidence."""

    what: ClassVar[str] = "distinct_when rule"
    shape: ClassVar[str] = "a mapping: rule, sql_condition, review_when, scope"

    rule: str = Field(min_length=1, description="its name")
    sql_condition: str = Field(description="SQL on <column>_l / <column>_r")
    review_when: str | bool = Field(True, description="SQL on the pair, or true / false")
    scope: Literal["cluster", "match"] = Field(
        "cluster", description="cluster (no two records of a golden record may fire it) or match (a match on which "
                               "it fires joins nothing by itself)")


class SurvivorshipAttributeSpec(Spec):
    what: ClassVar[str] = "survivorship attribute"
    shape: ClassVar[str] = "a list of rules or a mapping (rules, source_priority, columns)"

    rules: list[Rule] | None = None
    source_priority: list[str] | None = None
    columns: list[str] | None = None


class SurvivorshipSpec(Spec):
    """Which value of a cluster's records the golden record takes, per attribute."""

    what: ClassVar[str] = "survivorship"

    source_priority: list[str] | None = None
    default: list[Rule] | None = None
    attributes: dict[str, SurvivorshipAttributeSpec] = {}
    critical: list[str] = []

    @field_validator("attributes", mode="before")
    @classmethod
    def _rule_lists(cls, value: Any) -> Any:
        """``name: [rules]`` is short for ``name: {rules: [rules]}``."""
        if not isinstance(value, dict):
            return value
        out = _line_dict({}, getattr(value, "line", 0), getattr(value, "key_lines", {}))
        for name, item in value.items():
            line = out.key_line(name)
            out[name] = _line_dict({"rules": item}, line) if isinstance(item, list) else item
        return out


class EntityFileSpec(Spec):
    """``models/entities/<entity>.yml`` as written."""

    what: ClassVar[str] = "entity file"
    shape: ClassVar[str] = "a mapping with 'entity:', 'inputs:', 'splink:' ..."

    entity: str | None = None
    description: str | None = None
    id_prefix: str | None = None
    owner: str | None = None
    like: str | None = None
    attributes: dict[str, AttributeSpec] | None = Field(
        None, description=f"a mapping of each attribute name to its type ({', '.join(TYPES)}) "
                          "or to {type: ..., block: true, critical: true, tf: true}")
    inputs: list[InputSpec] = Field(default_factory=list, description="a list, one input per system "
                                                                      "(system, model, id, columns)")
    splink: SplinkSpec | None = None
    training: TrainingSpec | None = None
    thresholds: ThresholdsSpec | None = None
    distinct_when: list[DistinctRuleSpec] | None = Field(
        None, description="a list of rules (rule: <name>, sql_condition: <SQL on column_l / column_r>, "
                          "review_when: <SQL>, scope: cluster | match)")
    survivorship: SurvivorshipSpec | None = None
    ground_truth: dict[str, str] = {}

    @field_validator("attributes", mode="before")
    @classmethod
    def _types_by_name(cls, value: Any) -> Any:
        """``name: <type>`` is short for ``name: {type: <type>}``."""
        if not isinstance(value, dict) or not value:
            raise ValueError("'attributes:' maps each attribute name to its type "
                             f"({', '.join(TYPES)}) or to {{type: ..., block: true, critical: true, tf: true}}")
        out = _line_dict({}, getattr(value, "line", 0), getattr(value, "key_lines", {}))
        for name, item in value.items():
            out[name] = _line_dict({"type": item}, out.key_line(name)) if isinstance(item, str) else item
        return out

    def problems(self):
        for name, attr in (self.attributes or {}).items():
            if not _attribute_name_ok(name):
                yield attr.line, f"attribute name {name!r} must be a lower-case identifier (it becomes a column)"
            elif attr.distinct and attr.decl(name).kind.different(attr.decl(name)) is None:
                yield attr.key_line("distinct"), (
                    f"attribute {name!r}: type {attr.type!r} has no rule for 'different entities' (types with one: "
                    "date, identifier, vat_id, register_number, person_name); remove 'distinct'")

    def written(self, key: str) -> bool:
        """``key`` is in the file (valid or not)."""
        return key in self.model_fields_set or self.rejected(key)


def _attribute_name_ok(name: Any) -> bool:
    return isinstance(name, str) and name.isidentifier() and name.lower() == name


# ------------------------------------------------------------------ loading: the files, then across files


def load_reference(path: Path, rel: str, problems: list[Problem]) -> dict[str, Any]:
    """``_reference.yml``: legal forms, abbreviations, city aliases, freemail domains, countries."""
    if not path.is_file():
        return {}
    try:
        doc = yamlfile.load(path, rel)
    except ProjectError as exc:
        problems.extend(exc.problems)
        return {}
    _, found = validate(ReferenceSpec, doc, rel)
    problems.extend(found)
    return dict(doc or {})


def load_entities(settings: Settings, model_columns: dict[str, list[str] | None],
                  remembered: SplinkAnswers | None = None) -> EntityProject:
    """Every ``models/entities/*.yml`` except files starting with ``_``; problems collected.

    ``model_columns`` maps each model name to its output columns (None when unknown), so a mapping
    onto a column the staging model does not produce is caught before a run. ``remembered``
    (``kontor check``): Splink's answers kept from earlier checks (``splink_check.py``)."""
    folder = settings.project_dir / "models" / "entities"
    problems: list[Problem] = []
    if not folder.is_dir():
        return EntityProject({}, problems)
    reference = load_reference(folder / "_reference.yml", settings.relative(folder / "_reference.yml"), problems)
    docs: dict[str, tuple[str, EntityFileSpec]] = {}
    for path in sorted(folder.glob("*.y*ml")):
        if path.name.startswith("_"):
            continue
        rel = settings.relative(path)
        try:
            spec, found = validate(EntityFileSpec, yamlfile.load(path, rel), rel)
        except ProjectError as exc:
            problems.extend(exc.problems)
            continue
        problems.extend(found)
        if spec is None:
            continue
        name = spec.entity or path.stem
        if name != path.stem:
            problems.append(Problem(rel, spec.key_line("entity"), f"entity {name!r} must be named like its file ({path.stem!r})"))
            continue
        docs[name] = (rel, spec, bool(found))
    entities = {}
    splink = remembered or SplinkAnswers(None)
    for name, (rel, spec, broken) in docs.items():
        built = _entity(name, rel, spec, docs, reference, model_columns, problems, splink)
        if built is not None and not broken:
            entities[name] = built
    splink.save()
    # a block shared through ``like:`` is checked with each entity that uses it: say it once
    return EntityProject(entities, list(dict.fromkeys(problems)))


def _inherited(spec: EntityFileSpec, docs: dict, key: str, rel: str,
               problems: list[Problem]) -> tuple[Any, str, EntityFileSpec]:
    """``key`` of this entity, else of the entity named in ``like:``. Returns (value, file, spec)."""
    if spec.written(key) or spec.like is None:
        return getattr(spec, key), rel, spec
    if spec.like not in docs:
        problems.append(Problem(rel, spec.key_line("like"),
                                f"like: unknown entity {spec.like!r}{did_you_mean(str(spec.like), set(docs))}"))
        return None, rel, spec
    other_rel, other, _ = docs[spec.like]
    return getattr(other, key), other_rel, other


def _entity(name: str, rel: str, spec: EntityFileSpec, docs: dict, reference: dict,
            model_columns: dict[str, list[str] | None], problems: list[Problem],
            splink_answers: SplinkAnswers | None = None) -> EntitySpec | None:
    """The engine's view of one entity file: what only the other files can tell (models and their
    columns, ``like:``, the columns of the standardised input) checked here."""
    before = len(problems)
    attrs, attrs_rel, attrs_spec = _inherited(spec, docs, "attributes", rel, problems)
    declared = None if attrs is None else [a.decl(n) for n, a in attrs.items() if _attribute_name_ok(n)]
    if attrs is None and attrs_spec.rejected("attributes"):
        return None         # reported where it is written
    for a in declared or []:
        other = a.options.get("entity")
        if a.type == "reference" and (other not in docs or other == name):
            problems.append(Problem(attrs_rel, attrs[a.name].line, f"attribute {a.name!r}: a reference needs "
                                    f"'entity:' naming another entity file{did_you_mean(str(other), set(docs) - {name})}"))
    # the fixed company schema when no attributes are declared; the declared ones otherwise
    columns = STANDARDISED if declared is None else generic_columns(declared)
    names = ATTRIBUTES if declared is None else tuple(a.name for a in declared)
    inputs = _inputs(rel, spec, model_columns, problems,
                     mappable=MAPPABLE if declared is None else (*names, "updated_at"),
                     required=("name",) if declared is None else ())
    systems = [i.system for i in inputs]
    splink_spec, splink_rel, splink_parent = _inherited(spec, docs, "splink", rel, problems)
    if splink_spec is None and declared:
        splink_spec, found = validate(SplinkSpec, _lines(default_splink(declared, len(inputs), reference), spec.line), rel)
        problems.extend(found)
        splink_rel, splink_parent = rel, spec
    splink = None
    if splink_spec is not None:
        splink = _splink(splink_rel, splink_spec, problems, columns, splink_answers)
    elif not splink_parent.rejected("splink"):
        problems.append(Problem(rel, spec.line, "missing 'splink:' settings (or 'like: <entity>' to share them, "
                                "or 'attributes:' with types that bring their comparisons)"))
    training_spec, training_rel, _ = _inherited(spec, docs, "training", rel, problems)
    if training_spec is None:
        defaults = _lines(default_training(declared), spec.line) if declared else None
        training_spec, found = validate(TrainingSpec, defaults, rel)
        problems.extend(found)
        training_rel = rel
    training = _training(training_rel, training_spec, problems, columns)
    thresholds_spec, _, _ = _inherited(spec, docs, "thresholds", rel, problems)
    thresholds = (thresholds_spec or ThresholdsSpec()).as_dict()
    rules_spec, rules_rel, _ = _inherited(spec, docs, "distinct_when", rel, problems)
    distinct_when = _distinct_rules(rules_rel, rules_spec or [], problems, columns)
    # the types' own "different" rules, for attributes declared distinct: true
    # the types' own rules: "different <attr>" for attributes declared distinct: true, and the
    # match of persons that nothing but their names corroborates (types.type_rules)
    distinct_when += [DistinctRule(**r) for r in type_rules(declared or [], reference)]
    surv_spec, surv_rel, _ = _inherited(spec, docs, "survivorship", rel, problems)
    if declared is not None and surv_spec is None:
        # defaults from the types: each attribute's own rules, critical as declared
        attributes = [Attribute(a.name, (a.name,), a.kind.survivorship, tuple(systems)) for a in declared]
        critical = tuple(a.name for a in declared if a.critical)
    else:
        attributes, critical = _survivorship(surv_rel, surv_spec or SurvivorshipSpec(), systems, problems,
                                             inherited=surv_rel != rel, names=names)
    if len(problems) > before or splink is None:
        return None
    return EntitySpec(name=name, file=rel, description=(spec.description or "").strip(),
                      id_prefix=spec.id_prefix or name[:1].upper(), owner=spec.owner,
                      inputs=inputs, splink=splink, training=training, thresholds=thresholds,
                      attributes=attributes, critical=critical, reference=reference,
                      ground_truth=dict(spec.ground_truth), distinct_when=distinct_when, declared=declared)


def _inputs(rel: str, spec: EntityFileSpec, model_columns: dict[str, list[str] | None], problems: list[Problem],
            mappable: tuple[str, ...] = MAPPABLE, required: tuple[str, ...] = ("name",)) -> list[EntityInput]:
    if not spec.inputs:
        if not spec.rejected("inputs"):
            problems.append(Problem(rel, spec.key_line("inputs"),
                                    "an entity needs 'inputs:', one per system (system, model, id, columns)"))
        return []
    inputs, seen = [], set()
    for item in spec.inputs:
        if item.system in seen:
            problems.append(Problem(rel, item.key_line("system"), f"system {item.system!r} is listed twice"))
        seen.add(item.system)
        if item.model not in model_columns:
            problems.append(Problem(rel, item.key_line("model"),
                                    f"unknown model {item.model!r}{did_you_mean(item.model, set(model_columns))}"))
            continue
        available = model_columns[item.model]
        columns = item.columns
        mapping = {}
        for attr, column in columns.items():
            attr_line = columns.key_line(attr) if isinstance(columns, LineDict) else item.key_line("columns")
            if attr not in mappable:
                problems.append(Problem(rel, attr_line, f"unknown attribute {attr!r}; the attributes are "
                                        f"{', '.join(mappable)}{did_you_mean(str(attr), set(mappable))}"))
            elif not isinstance(column, str):
                problems.append(Problem(rel, attr_line, f"{attr!r} maps onto a column name, not {column!r}"))
            elif available is not None and column not in available:
                problems.append(Problem(rel, attr_line, f"unknown column {column!r} of model {item.model!r} for {attr!r}"
                                        f"{did_you_mean(str(column), set(available))}"))
            else:
                mapping[attr] = column
        if available is not None and item.id not in available:
            problems.append(Problem(rel, item.key_line("id"), f"unknown id column {item.id!r} of model {item.model!r}"
                                    f"{did_you_mean(item.id, set(available))}"))
        for attr in required:
            if attr not in mapping:
                problems.append(Problem(rel, item.key_line("columns"), f"input {item.system!r} must map {attr!r}"))
        if not mapping:
            problems.append(Problem(rel, item.key_line("columns"),
                                    f"input {item.system!r} maps no attribute ('columns: {{attribute: column}}')"))
        inputs.append(EntityInput(item.system, item.model, item.id, mapping, item.name_max_length, item.name_cut_at))
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


def _splink(rel: str, spec: SplinkSpec, problems: list[Problem],
            columns: tuple[str, ...] = STANDARDISED, answers: SplinkAnswers | None = None) -> dict[str, Any] | None:
    """The Splink settings dictionary, with named library comparisons expanded to their levels.
    ``answers``: where Splink is asked (``splink_check.py``; by default every time)."""
    answers = answers or SplinkAnswers(None)
    before = len(problems)
    comparisons = []
    for item in spec.comparisons:
        if item.comparison is not None:
            name = item.comparison
            # the comparisons splink.comparison_library exports (its public surface)
            known = answers.library()
            if name not in known:
                problems.append(Problem(rel, item.key_line("comparison"), f"unknown comparison {name!r}{did_you_mean(str(name), known)}; "
                                        "use a class of splink.comparison_library or write comparison_levels"))
                continue
            args = plain(item.arguments())
            for arg in ("col_name", "col_name_l"):
                if isinstance(args.get(arg), str) and args[arg] not in columns:
                    problems.append(Problem(rel, item.key_line(arg), f"comparison {name}: unknown column {args[arg]!r}"
                                            f"{did_you_mean(args[arg], set(columns))}"))
            built, complaint = answers.comparison(name, args, plain(item.configure) if item.configure else None)
            if complaint is None:
                comparisons.append(built)
            else:    # Splink raises TypeError / ValueError / its own errors for bad arguments
                problems.append(Problem(rel, item.line, f"comparison {name}: invalid arguments: {complaint}"))
            continue
        if not item.comparison_levels:
            continue        # reported by the model
        for level in item.comparison_levels:
            _check_columns(rel, level.key_line("sql_condition"), level.sql_condition, "sql_condition", problems, columns)
            tf = level.tf_adjustment_column
            if tf is not None and tf not in columns:
                problems.append(Problem(rel, level.key_line("tf_adjustment_column"), f"unknown column {tf!r} for "
                                        f"term-frequency adjustment{did_you_mean(str(tf), set(columns))}"))
        comparisons.append(plain(item.model_dump(exclude_unset=True)))
    if not comparisons and len(problems) == before and not spec.rejected("comparisons"):
        problems.append(Problem(rel, spec.line, "'splink:' needs at least one comparison"))
    rules = []
    raw_rules = spec.blocking_rules_to_generate_predictions or LineList()
    for index, rule in enumerate(raw_rules):
        text = rule.get("blocking_rule") if isinstance(rule, dict) else rule
        rule_line = getattr(rule, "line", None) or _item_line(raw_rules, index, spec.key_line("blocking_rules_to_generate_predictions"))
        if not isinstance(text, str):
            problems.append(Problem(rel, rule_line, "a blocking rule is SQL text such as 'l.postcode = r.postcode'"))
            continue
        _check_columns(rel, rule_line, text, "blocking rule", problems, columns)
        rules.append(plain(rule) if isinstance(rule, dict) else {"blocking_rule": text, "sql_dialect": "duckdb"})
    if not rules and not spec.rejected("blocking_rules_to_generate_predictions"):
        problems.append(Problem(rel, spec.line, "'splink:' needs blocking_rules_to_generate_predictions "
                                "(without them every pair is compared)"))
    fixed = FIXED_SPLINK if columns is STANDARDISED else \
        {**FIXED_SPLINK, "additional_columns_to_retain": ["source_system", "source_id"]}
    result = {**spec.settings(), **fixed, "comparisons": comparisons, "blocking_rules_to_generate_predictions": rules}
    if len(problems) == before:
        complaint = answers.settings_problem(result)     # Splink's own validation: unknown keys, bad values
        if complaint is not None:
            problems.append(Problem(rel, spec.line, f"Splink rejects these settings: {complaint}"))
    return result if len(problems) == before else None


def _item_line(items: Any, index: int, default: int) -> int:
    return items.item_line(index) if isinstance(items, LineList) else default


def _training(rel: str, spec: TrainingSpec, problems: list[Problem], columns: tuple[str, ...] = STANDARDISED) -> dict[str, Any]:
    for key in ("deterministic_rules", "em_blocking_rules"):
        rules = getattr(spec, key)
        for index, rule in enumerate(rules):
            _check_columns(rel, _item_line(rules, index, spec.key_line(key)), str(rule), f"training {key}", problems, columns)
    return spec.as_dict()


def _distinct_rules(rel: str, specs: list[DistinctRuleSpec], problems: list[Problem],
                    columns: tuple[str, ...] = STANDARDISED) -> list[DistinctRule]:
    """``distinct_when:``: each rule's SQL against the columns of the standardised input."""
    rules = []
    for item in specs:
        _check_columns(rel, item.key_line("sql_condition"), item.sql_condition, "distinct_when", problems, columns)
        review_when = item.review_when
        if isinstance(review_when, bool):
            review_when = "true" if review_when else "false"
        else:
            _check_columns(rel, item.key_line("review_when"), review_when, "distinct_when review_when", problems, columns)
        rules.append(DistinctRule(item.rule, " ".join(item.sql_condition.split()), " ".join(review_when.split()),
                                  item.scope))
    return rules


def _survivorship(rel: str, spec: SurvivorshipSpec, systems: list[str], problems: list[Problem],
                  inherited: bool = False, names: tuple[str, ...] = ATTRIBUTES) -> tuple[list[Attribute], tuple[str, ...]]:
    """Survivorship rules; absent, defaults apply. Taken from another entity (``like:``), its
    priorities name systems this entity may not have: those are left out, not reported."""
    default = tuple(spec.default or ("valid_only", "most_frequent", "source_priority", "most_recent"))

    def check_priority(order, line) -> tuple[str, ...]:
        if inherited:
            return tuple(system for system in order if system in systems)
        for system in order:
            if system not in systems:
                problems.append(Problem(rel, line, f"source_priority: unknown system {system!r}{did_you_mean(str(system), set(systems))}"))
        return tuple(order)

    priority = check_priority(spec.source_priority or systems, spec.key_line("source_priority"))
    configured: dict[str, Attribute] = {}
    for name, value in spec.attributes.items():
        columns = tuple(value.columns or (name,))
        for column in columns:
            if column not in names:
                problems.append(Problem(rel, value.line, f"unknown attribute {column!r}{did_you_mean(str(column), set(names))}"))
        configured[name] = Attribute(name, columns, tuple(value.rules or default),
                                     check_priority(value.source_priority or priority, value.key_line("source_priority")))
    grouped = {c for a in configured.values() for c in a.columns}
    for a in configured.values():
        overlap = [c for c in a.columns if sum(c in b.columns for b in configured.values()) > 1]
        if overlap:
            problems.append(Problem(rel, spec.attributes[a.name].line, f"attribute(s) {', '.join(overlap)} chosen twice"))
    attributes = list(configured.values()) + [Attribute(c, (c,), default, priority) for c in names if c not in grouped]
    for c in spec.critical:
        if c not in names:
            problems.append(Problem(rel, spec.key_line("critical"), f"critical: unknown attribute {c!r}{did_you_mean(str(c), set(names))}"))
    return attributes, tuple(spec.critical)
