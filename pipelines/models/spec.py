"""Model properties files (dbt's ``schema.yml``): pydantic models, read by the one loader.

A properties file beside the SQL says what a model is: ``models: - name, description, columns,
config, data_tests ...``. Kontor's own projects take the keys of dbt's model properties that mean
something here (``PropertiesYml``); a dbt project takes every key dbt reads (``DbtPropertiesYml``:
seeds, snapshots, sources, unit tests, and the semantic layer's keys, which build nothing).
``pipelines.core.spec.validate`` reports every problem at its line; ``project.py`` and
``dbt_load.py`` turn the models into ``ModelProperties``.

>>> from pipelines.core.spec import validate
>>> from pipelines.core.yamlfile import loads
>>> text = "models:\\n  - name: m\\n    confg: {}\\n    columns:\\n      - {name: x, descripton: a number}\\n"
>>> doc, problems = validate(PropertiesYml, loads(text, "m.yml"), "m.yml")
>>> for p in sorted(problems, key=lambda p: p.line): print(p)
m.yml:3: unknown key 'confg' in model properties; did you mean 'config'?
m.yml:5: unknown key 'descripton' in column 'x'; did you mean 'description'?
>>> [c.name for c in doc.models[0].columns]
['x']
"""
from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict, Field, field_validator, model_validator

from pipelines.core.errors import did_you_mean
from pipelines.core.spec import Mapping, Spec, SpecError

__all__ = ["CONFIG_KEYS", "DBT_CONFIG_KEYS", "DbtPropertiesYml", "PropertiesYml", "dbt_config"]

# The schema is always the folder (a rule, no special cases), so dbt's `schema` config is not here.
CONFIG_KEYS = {
    "materialized", "unique_key", "incremental_strategy", "dialect", "tags", "owner", "strategy",
    "updated_at", "check_cols", "invalidate_hard_deletes", "enabled", "full_refresh",
}
# What a dbt project may configure on top (dbt's own names and meanings; see pipelines/models/dbt.py).
DBT_CONFIG_KEYS = CONFIG_KEYS | {
    "schema", "alias", "pre_hook", "post_hook", "on_schema_change", "contract", "meta", "docs", "persist_docs",
    "grants", "database", "group", "access", "sql_header", "target_schema", "target_database",
    "snapshot_meta_column_names", "hard_deletes", "dbt_valid_to_current", "packages", "incremental_predicates",
    "merge_update_columns", "merge_exclude_columns", "quoting", "on_configuration_change", "column_types",
    "quote_columns", "delimiter", "file_format",
}


def dbt_config(key: Any) -> str:
    """A config key as Kontor reads it: dbt writes hooks with a hyphen in YAML.

    >>> dbt_config("pre-hook"), dbt_config("materialized")
    ('pre_hook', 'materialized')
    """
    return str(key).replace("pre-hook", "pre_hook").replace("post-hook", "post_hook")


class ColumnYml(Spec):
    """A column of a model: the keys dbt accepts on a column; anything else is a typo or a
    description split by a comma."""

    what: ClassVar[str] = "column"
    shape: ClassVar[str] = "a mapping with a 'name'"

    name: str = Field(description="the column's name")
    description: Any = None
    data_type: Any = None
    meta: Any = None
    tags: Any = None
    tests: Any = None
    data_tests: Any = None
    quote: Any = None
    constraints: Any = None
    config: Any = None
    policy_tags: Any = None
    granularity: Any = None
    docs: Any = None

    @classmethod
    def unknown_key(cls, key: str, value: Any, data: Any) -> str:
        """The message, with the usual cause when the key is the rest of a description.

        >>> ColumnYml.unknown_key("ISO 4217", None, {"name": "currency_code"})  # doctest: +NORMALIZE_WHITESPACE
        "unknown key 'ISO 4217' in column 'currency_code'; fix: quote the description: in
        {description: a, b} the comma ends the text and 'b' becomes a key"
        """
        column = data.get("name") if isinstance(data, dict) else None
        if value is None and " " in str(key):
            return (f"unknown key {key!r} in column {column!r}; fix: quote the description: in "
                    "{description: a, b} the comma ends the text and 'b' becomes a key")
        return f"unknown key {key!r} in column {column!r}{did_you_mean(str(key), set(cls.model_fields))}"


class DbtColumnYml(ColumnYml):
    """A column in a dbt project: dbt's parser decides which keys a column has."""

    model_config = ConfigDict(extra="allow")


class _Node(Spec):
    """What model, seed and snapshot properties share: a name, its columns, config and tests."""

    shape: ClassVar[str] = "a mapping with a 'name'"
    config_keys: ClassVar[set[str]] = CONFIG_KEYS

    name: Any = None
    description: Any = None
    columns: list[ColumnYml] = []
    config: Mapping = {}
    meta: Mapping = {}
    tags: Any = None
    docs: Any = None
    data_tests: Any = None
    tests: Any = None

    @field_validator("columns", "config", "meta", mode="before")
    @classmethod
    def _empty(cls, value: Any, info) -> Any:
        return ([] if info.field_name == "columns" else {}) if value is None else value

    @model_validator(mode="after")
    def _named(self):
        if not isinstance(self.name, str):
            raise SpecError(self.nameless)
        return self

    nameless: ClassVar[str] = "a model entry needs a name"

    def problems(self):
        for key in self.config:
            if dbt_config(key) not in self.config_keys:
                yield self.config.key_line(key), \
                    f"unknown config {dbt_config(key)!r}{did_you_mean(dbt_config(key), self.config_keys)}"


class ModelYml(_Node):
    """A model's properties in a Kontor project."""

    what: ClassVar[str] = "model properties"

    @classmethod
    def unknown_key(cls, key: str, value: Any, data: Any) -> str:
        return f"unknown key {key!r} in model properties" + \
            did_you_mean(str(key), {"description", "columns", "config", "meta", "tags", "data_tests"})


class PropertiesYml(Spec):
    """A properties file under ``models/`` of a Kontor project."""

    what: ClassVar[str] = "properties file"

    version: Any = None
    models: list[ModelYml] = []

    @field_validator("models", mode="before")
    @classmethod
    def _none(cls, value: Any) -> Any:
        return [] if value is None else value

    @classmethod
    def unknown_key(cls, key: str, value: Any, data: Any) -> str:
        return (f"unknown key {key!r}; model properties go under 'models:'"
                + (" and sources into models/sources.yml" if key == "sources" else ""))


class DbtNodeYml(_Node):
    """Properties of a model, seed or snapshot in a dbt project (dbt's keys; versions refused)."""

    config_keys: ClassVar[set[str]] = DBT_CONFIG_KEYS

    columns: list[DbtColumnYml] = []
    constraints: Any = None
    access: Any = None
    group: Any = None
    latest_version: Any = None
    versions: Any = None
    deprecation_date: Any = None
    time_spine: Any = None

    def problems(self):
        yield from super().problems()
        if self.versions:
            yield self.key_line("versions"), "model versions are not supported; fix: one file per model"


class DbtModelYml(DbtNodeYml):
    what: ClassVar[str] = "model properties"
    nameless: ClassVar[str] = "an entry of models: needs a name"


class DbtSeedYml(DbtNodeYml):
    what: ClassVar[str] = "seed properties"
    nameless: ClassVar[str] = "an entry of seeds: needs a name"


class DbtSnapshotYml(DbtNodeYml):
    what: ClassVar[str] = "snapshot properties"
    nameless: ClassVar[str] = "an entry of snapshots: needs a name"


# Top-level keys of a dbt properties file: the ones Kontor reads, and those describing things that
# are not built by dbt run/build (the semantic layer, exposures, docs) and need nothing here.
READ_KEYS = {"version", "models", "seeds", "snapshots", "sources", "unit_tests", "data_tests", "macros"}
METADATA_KEYS = {"semantic_models", "metrics", "saved_queries", "exposures", "groups", "analyses"}


class DbtPropertiesYml(Spec):
    """A properties file of a dbt project. Sources and unit tests are read as written (their
    tests and fixtures are checked where they run: ``dbt_tests.py``, ``dbt_unit.py``)."""

    what: ClassVar[str] = "properties file"

    version: Any = None
    models: list[DbtModelYml] = []
    seeds: list[DbtSeedYml] = []
    snapshots: list[DbtSnapshotYml] = []
    sources: Any = None
    unit_tests: Any = None
    data_tests: Any = None
    macros: Any = None
    semantic_models: Any = None
    metrics: Any = None
    saved_queries: Any = None
    exposures: Any = None
    groups: Any = None
    analyses: Any = None

    @field_validator("models", "seeds", "snapshots", mode="before")
    @classmethod
    def _none(cls, value: Any) -> Any:
        return [] if value is None else value

    @classmethod
    def unknown_key(cls, key: str, value: Any, data: Any) -> str:
        return f"unknown key {key!r}{did_you_mean(str(key), READ_KEYS | METADATA_KEYS)}"
