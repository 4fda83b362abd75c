"""Where a dbt node lands, and which of its configs Kontor honours: dbt's parse phase.

Every model is rendered once to read ``{{ config(...) }}``; then its schema is
``generate_schema_name(config.schema, node)`` (the project's own macro when it has one, else
dbt's default: the target schema, or ``<target schema>_<custom>``) and its name
``generate_alias_name`` (alias, else the model name). Seeds get the same treatment from their
folder and YAML configs. Config values written as Jinja (``+enabled: "{{ var('x') }}"``) are
rendered as dbt renders them.
"""
from __future__ import annotations

import re
from typing import Any

from pipelines.core.errors import Problem
from pipelines.models.project import ModelProject
from pipelines.models.render import Renderer, line_of

STRATEGIES = ("append", "merge", "delete+insert")
ON_SCHEMA_CHANGE = ("ignore", "fail", "append_new_columns", "sync_all_columns")


def target_context(project: ModelProject) -> dict[str, Any]:
    return dict(project.target)


def _render_value(renderer: Renderer, value: Any, file: str) -> Any:
    """A config value written as Jinja, rendered with the project's context, then read as YAML would."""
    if not isinstance(value, str) or "{{" not in value:
        return value
    rendered = renderer.render(value, file, "")
    text = rendered.sql.strip()
    return {"true": True, "false": False, "none": None, "": None}.get(text.lower(), text)


def _call(renderer: Renderer, macro: str, args: tuple, file: str, problems: list[Problem]) -> str | None:
    found = renderer.macro(macro)
    if found is None or found.package == "dbt":
        return None
    try:
        return str(found(*args)).strip()
    except Exception as exc:  # noqa: BLE001 - the project's macro failed; say where
        problems.append(Problem(found.file, None, f"{macro} failed for {file}: {exc}"))
        return None


def schema_for(renderer: Renderer, target_schema: str, custom: Any, node: dict, problems: list[Problem]) -> str:
    custom = None if custom in (None, "") else str(custom)
    found = _call(renderer, "generate_schema_name", (custom, node), node["original_file_path"], problems)
    if found is not None:
        return found
    return target_schema if custom is None else f"{target_schema}_{custom.strip()}"


def alias_for(renderer: Renderer, custom: Any, node: dict, problems: list[Problem]) -> str:
    custom = None if custom in (None, "") else str(custom)
    found = _call(renderer, "generate_alias_name", (custom, node), node["original_file_path"], problems)
    return found or (custom.strip() if custom else node["name"])


def resolve_relations(project: ModelProject, renderer: Renderer, problems: list[Problem]) -> dict[str, dict[str, Any]]:
    """Final config (as far as schema, alias and enabled go) of every model and seed; their
    ``schema``/``alias`` set in place. Returns model name -> parsed config."""
    from pipelines.models.compile import _node

    target_schema = renderer.target.get("schema", "main")
    parsed: dict[str, dict[str, Any]] = {}
    for model in project.models.values():
        # Render to read config(); problems are reported by the real compile pass that follows.
        rendered = renderer.render(model.raw_sql, model.rel_path, model.relation, node=_node(model))
        config = {**model.folder_config, **model.properties.config, **rendered.config}
        # Hooks are rendered when they run (they use `this`); other Jinja values now, as dbt parses them.
        config = {k: v if k in ("pre_hook", "post_hook") else _render_value(renderer, v, model.rel_path)
                  for k, v in config.items()}
        model.folder_config = {**model.folder_config, **{k: config[k] for k in model.folder_config}}
        node = _node(model) | {"config": config}
        custom = config.get("schema") if model.resource_type == "model" else \
            (config.get("target_schema") or config.get("schema"))
        if model.resource_type == "snapshot" and config.get("target_schema"):
            model.schema = str(config["target_schema"])   # legacy snapshots: the schema as written
        else:
            model.schema = schema_for(renderer, target_schema, custom, node, problems)
        model.alias = alias_for(renderer, config.get("alias"), node | {"schema": model.schema}, problems)
        parsed[model.name] = config
    for seed in list(project.seeds.values()):
        config = {**seed.config, **seed.properties.config}
        config = {k: _render_value(renderer, v, seed.rel_path) for k, v in config.items()}
        seed.config = config
        if config.get("enabled", True) is False:
            del project.seeds[seed.name]
            continue
        if config.get("database") and str(config["database"]) != renderer.target.get("database"):
            # as for models (config_problems): a seed meant for another database is not loaded here silently
            problems.append(Problem(seed.properties.file or seed.rel_path, seed.properties.line or None,
                                    f"database is not supported (seed {seed.name}, database "
                                    f"{config['database']!r}): a dbt project on Kontor has one DuckDB file; fix: remove it"))
        node = {"name": seed.name, "resource_type": "seed", "fqn": seed.fqn, "original_file_path": seed.rel_path,
                "config": config, "path": seed.rel_path, "unique_id": f"seed.{seed.name}"}
        seed.schema = schema_for(renderer, target_schema, config.get("schema"), node, problems)
        seed.alias = alias_for(renderer, config.get("alias"), node | {"schema": seed.schema}, problems)
    return parsed


def config_problems(cm, own_database: str | None = None) -> list[Problem]:
    """dbt configs Kontor does not honour (yet), refused at their line rather than ignored;
    ``own_database``: the target's (the DuckDB file's stem), which ``database`` may name."""
    model, config, problems = cm.model, cm.config, []

    def refuse(key: str, message: str) -> None:
        line = line_of(model.raw_sql, rf"\b{re.escape(key)}\s*=")
        file, where = (model.rel_path, line) if line else (model.properties.file or model.rel_path, model.properties.line or None)
        problems.append(Problem(file, where, message))

    contract = config.get("contract") or {}
    if contract.get("enforced"):
        props = model.properties
        if not props.columns:
            refuse("contract", "an enforced contract needs the model's columns with data_type in its properties")
        for column in props.columns:
            if not column.data_type:
                problems.append(Problem(props.file, column.line, f"column {column.name!r} of {model.name} needs a "
                                        "data_type: its contract is enforced"))
            for c in column.constraints:
                if (c or {}).get("type") != "not_null":
                    problems.append(Problem(props.file, column.line, f"constraint {(c or {}).get('type')!r} is not "
                                            "supported yet (only not_null); fix: a data test (unique, relationships)"))
        if props.constraints:
            problems.append(Problem(props.file, props.line, "model-level constraints are not supported yet; "
                                    "fix: use data tests"))
    strategy = config.get("incremental_strategy")
    if cm.materialized == "incremental" and strategy not in (None, *STRATEGIES):
        refuse("incremental_strategy", f"incremental_strategy {strategy!r} is not supported on DuckDB; "
                                       f"use one of {', '.join(STRATEGIES)}")
    osc = config.get("on_schema_change", "ignore")
    if osc not in ON_SCHEMA_CHANGE:
        refuse("on_schema_change", f"on_schema_change {osc!r} is not one of {', '.join(ON_SCHEMA_CHANGE)}")
    if config.get("hard_deletes") not in (None, "ignore", "invalidate"):
        refuse("hard_deletes", f"hard_deletes {config['hard_deletes']!r} is not supported; use 'ignore' or 'invalidate'")
    if config.get("dbt_valid_to_current") is not None:
        refuse("dbt_valid_to_current", "dbt_valid_to_current is not supported; current versions have dbt_valid_to NULL")
    if config.get("sql_header"):
        refuse("sql_header", "sql_header is not supported yet; fix: put the statement in a pre_hook")
    for key in ("database", "target_database"):
        if config.get(key) and str(config[key]) != own_database:
            refuse(key, f"{key} is not supported: a dbt project on Kontor has one DuckDB file; fix: remove it")
    # persist_docs: Kontor writes every description as a DuckDB comment (relation and columns) for
    # every project, in the serving step after the models; nothing to do per model.
    if config.get("grants"):
        refuse("grants", "grants are not supported on a DuckDB file; fix: remove them")
    if config.get("incremental_predicates") or config.get("merge_update_columns") or config.get("merge_exclude_columns"):
        refuse("incremental_predicates", "incremental_predicates / merge_update_columns / merge_exclude_columns "
                                         "are not supported yet; fix: remove them")
    return problems
