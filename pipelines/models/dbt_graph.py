"""dbt's ``graph`` in Jinja: ``graph.nodes`` (the project's models, snapshots and seeds) and
``graph.sources``, shaped as dbt's manifest holds them, for the read-only uses packages and
project macros make of it (a node's ``depends_on``, ``config.materialized``, ``tags``, ``columns``,
``graph.nodes[model.unique_id]``). Built from what Kontor parsed; a node's ``depends_on`` is known
once the node is rendered, so a model rendered before the whole project is compiled that reads the
graph is rendered again when it runs, with the whole graph (as dbt reads it only when ``execute``).

The other parts of the manifest (tests, exposures, metrics, macros ...) are not given: reading
them is refused at the line (``render._Graph``), never answered with something else.

>>> unique_id("model", "shop", "orders")
'model.shop.orders'
"""
from __future__ import annotations

from typing import Any, Mapping

from pipelines.models.project import ModelProject


def unique_id(resource_type: str, package: str, name: str) -> str:
    return f"{resource_type}.{package}.{name}"


def _quoted(*parts: Any) -> str:
    return ".".join('"' + str(p).replace('"', '""') + '"' for p in parts if p)


def _columns(props: Any) -> dict[str, dict[str, Any]]:
    return {c.name: {"name": c.name, "description": c.description, "data_type": c.data_type, "meta": {},
                     "tags": [], "constraints": list(c.constraints), "quote": None}
            for c in props.columns}


def build(project: ModelProject, compiled: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"nodes": {...}, "sources": {...}}``; ``compiled``: name -> CompiledModel of the models
    rendered so far (their config from ``config()``, their refs and sources)."""
    package = project.dbt.name if project.dbt is not None else ""
    database = str((project.target or {}).get("database") or "")
    ids = {s.name: unique_id("seed", package, s.name) for s in project.seeds.values()}
    ids |= {m.name: unique_id(m.resource_type, package, m.name) for m in project.models.values()}
    source_ids = {key: unique_id("source", package, ".".join(key)) for key in project.dbt_sources}
    nodes: dict[str, dict[str, Any]] = {}
    for seed in project.seeds.values():
        config = {"materialized": "seed", "enabled": True, **seed.config, **seed.properties.config}
        nodes[ids[seed.name]] = _node(ids[seed.name], seed.name, "seed", package, seed.rel_path, seed.fqn,
                                      seed.alias or seed.name, seed.schema, database, config, seed.properties,
                                      [], [], "")
    for model in project.models.values():
        cm = compiled.get(model.name)
        config = {"materialized": "view", "enabled": True, **model.folder_config, **model.properties.config,
                  **(cm.config if cm is not None else {})}
        if config.get("enabled") is False:
            continue                      # dbt keeps a disabled node out of graph.nodes
        refs = list(dict.fromkeys(cm.refs)) if cm is not None else []
        sources = list(dict.fromkeys(cm.sources)) if cm is not None else []
        nodes[ids[model.name]] = _node(
            ids[model.name], model.name, model.resource_type, package, model.rel_path, model.fqn,
            model.alias or model.name, model.schema, database, config, model.properties,
            [ids[r] for r in refs if r in ids] + [source_ids[s] for s in sources if s in source_ids],
            refs, model.raw_sql, sources)
    out_sources: dict[str, dict[str, Any]] = {}
    for (src, table), relation in project.dbt_sources.items():
        schema, _, identifier = str(getattr(relation, "relation", relation)).rpartition(".")
        if hasattr(relation, "database"):          # another database's (render.ForeignSource)
            schema, identifier = relation.schema, relation.identifier
        out_sources[source_ids[(src, table)]] = {
            "unique_id": source_ids[(src, table)], "resource_type": "source", "package_name": package,
            "source_name": src, "name": table, "identifier": identifier.strip('"'), "schema": schema.strip('"'),
            "database": getattr(relation, "database", database), "fqn": [package, src, table], "relation_name": str(relation)
            if hasattr(relation, "relation") else _quoted(getattr(relation, "database", database), schema.strip('"'),
                                                          identifier.strip('"')),
            "config": {"enabled": True}, "meta": {}, "tags": [], "columns": {}, "description": "", "loader": ""}
    return {"nodes": nodes, "sources": out_sources}


def _node(uid: str, name: str, kind: str, package: str, path: str, fqn: list[str], alias: str, schema: str,
          database: str, config: dict[str, Any], props: Any, depends: list[str], refs: list[str], raw: str,
          sources: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    tags = config.get("tags") or []
    tags = [tags] if isinstance(tags, str) else list(tags)
    return {
        "unique_id": uid, "name": name, "resource_type": kind, "package_name": package,
        "path": path, "original_file_path": path, "fqn": list(fqn) or [package, name], "alias": alias,
        "schema": schema, "database": database, "relation_name": _quoted(database, schema, alias),
        "config": {**config, "tags": tags}, "tags": tags, "meta": {**props.meta, **(config.get("meta") or {})},
        "description": props.description, "columns": _columns(props), "patch_path": props.file or None,
        "depends_on": {"nodes": depends, "macros": []},
        "refs": [{"name": r, "package": None, "version": None} for r in refs],
        "sources": [list(s) for s in sources or []], "raw_code": raw, "language": "sql",
        "docs": {"show": True, "node_color": (config.get("docs") or {}).get("node_color")},
    }
