"""A dbt project directory read as dbt reads it: ``dbt_project.yml``, ``profiles.yml``, ``dbt_packages/``.

With a ``dbt_project.yml`` and no ``[tool.kontor]``, the project is a dbt project: paths, folder
configs (``+key`` per folder under ``models:``/``seeds:``/``snapshots:``/``data_tests:``), ``vars:``
and the DuckDB target of the profile come from dbt's files, and models land where dbt puts them
(the target's schema, ``+schema`` through ``generate_schema_name``).

>>> tree = {"+materialized": "view", "shop": {"marts": {"+materialized": "table", "+tags": ["x"]}}}
>>> folder_config(tree, "shop", ["marts", "finance", "orders"])
{'materialized': 'table', 'tags': ['x']}
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import jinja2
import yaml

from pipelines.core import yamlfile
from pipelines.core.errors import KontorError, Problem, ProjectError
from pipelines.core.yamlfile import LineDict

PROJECT_FILE = "dbt_project.yml"
# Config names dbt accepts without a leading "+" in dbt_project.yml (a key that is none of these
# and has no "+" is a folder). The list of dbt's documented model, seed, snapshot and test configs.
KNOWN_CONFIGS = {
    "materialized", "schema", "alias", "database", "tags", "enabled", "pre-hook", "post-hook", "pre_hook",
    "post_hook", "persist_docs", "full_refresh", "unique_key", "incremental_strategy", "on_schema_change",
    "contract", "meta", "docs", "grants", "column_types", "quote_columns", "delimiter", "strategy",
    "updated_at", "check_cols", "invalidate_hard_deletes", "severity", "warn_if", "error_if", "store_failures",
    "store_failures_as", "where", "limit", "fail_calc", "group", "access", "sql_header", "on_configuration_change",
    "target_schema", "target_database", "snapshot_meta_column_names", "hard_deletes", "dbt_valid_to_current",
    "packages", "file_format", "batch_size", "lookback", "event_time", "begin", "concurrent_batches",
    "incremental_predicates", "merge_update_columns", "merge_exclude_columns", "quoting", "docs",
}
ADDITIVE = {"tags", "pre_hook", "post_hook"}   # dbt accumulates these down the tree; others are replaced


@dataclass
class DbtTarget:
    name: str
    schema: str
    path: Path
    threads: int | None = None
    file: str = ""


@dataclass
class DbtProject:
    root: Path
    name: str
    file: str
    model_paths: list[str]
    seed_paths: list[str]
    snapshot_paths: list[str]
    macro_paths: list[str]
    test_paths: list[str]
    configs: dict[str, dict]                 # models / seeds / snapshots / data_tests -> tree
    vars: dict[str, Any]
    profile: str = ""
    packages: list["DbtProject"] = field(default_factory=list)
    doc: LineDict | None = None

    def dirs(self, kind: str) -> list[Path]:
        return [self.root / p for p in getattr(self, f"{kind}_paths")]


def _config_key(key: str) -> str:
    return key[1:] if key.startswith("+") else key


def folder_config(tree: Mapping | None, project: str, folders: list[str]) -> dict[str, Any]:
    """The configs dbt applies to the node whose fqn is ``[project, *folders]`` (folders, then the
    node's own name, as in dbt_project.yml ``models: shop: marts: orders: +alias: ...``): every level's ``+key``
    (or a known config name), the deeper level winning; tags accumulate."""
    out: dict[str, Any] = {}

    def take(level: Mapping) -> None:
        for key, value in level.items():
            name = _config_key(str(key))
            if not str(key).startswith("+") and (name not in KNOWN_CONFIGS or isinstance(value, dict)
                                                and name not in ("meta", "docs", "persist_docs", "contract",
                                                                 "column_types", "grants", "quoting")):
                continue            # a folder (or another project), not a config
            name = name.replace("-", "_") if name in ("pre-hook", "post-hook") else name
            if name in ADDITIVE:
                extra = value if isinstance(value, list) else [value]
                out[name] = [*out.get(name, []), *extra]
            else:
                out[name] = value

    if not isinstance(tree, Mapping):
        return out
    take(tree)
    level = tree.get(project)
    for folder in [None, *folders]:
        if folder is not None:
            level = level.get(folder) if isinstance(level, Mapping) else None
        if not isinstance(level, Mapping):
            break
        take(level)
    return out


def _paths(doc: Mapping, key: str, default: str) -> list[str]:
    value = doc.get(key, [default])
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def load_dbt_project(root: Path, *, package: bool = False) -> DbtProject:
    path = root / PROJECT_FILE
    doc = yamlfile.load(path, str(path) if package else PROJECT_FILE)
    if not isinstance(doc, LineDict) or not isinstance(doc.get("name"), str):
        raise ProjectError([Problem(PROJECT_FILE, getattr(doc, "line", None), "dbt_project.yml needs a 'name:'")])
    tests_tree = doc.get("data_tests") or doc.get("tests") or {}
    project = DbtProject(
        root=root, name=doc["name"], file=str(path) if package else PROJECT_FILE,
        model_paths=_paths(doc, "model-paths", "models"), seed_paths=_paths(doc, "seed-paths", "seeds"),
        snapshot_paths=_paths(doc, "snapshot-paths", "snapshots"), macro_paths=_paths(doc, "macro-paths", "macros"),
        test_paths=_paths(doc, "test-paths", "tests"),
        configs={"models": doc.get("models") or {}, "seeds": doc.get("seeds") or {},
                 "snapshots": doc.get("snapshots") or {}, "data_tests": tests_tree},
        vars=dict(doc.get("vars") or {}), profile=str(doc.get("profile") or doc["name"]), doc=doc)
    if not package:
        packages_dir = root / str(doc.get("packages-install-path", "dbt_packages"))
        for sub in sorted(packages_dir.glob(f"*/{PROJECT_FILE}")) if packages_dir.is_dir() else []:
            project.packages.append(load_dbt_project(sub.parent, package=True))
        _check_packages(project, packages_dir)
    return project


def _check_packages(project: DbtProject, packages_dir: Path) -> None:
    """packages.yml names packages that ``dbt deps`` would install; Kontor installs nothing, so a
    package that is declared but not under dbt_packages/ is named before any model fails on it."""
    for name in ("packages.yml", "dependencies.yml"):
        path = project.root / name
        if not path.is_file():
            continue
        doc = yamlfile.load(path, name)
        def norm(name: str) -> str:     # dbt-audit-helper (the repository) installs as audit_helper
            return name.lower().replace("-", "_").removeprefix("dbt_")
        installed = {norm(p.root.name) for p in project.packages} | {norm(p.name) for p in project.packages}
        for entry in (doc or {}).get("packages") or []:
            spec = str(entry.get("package") or entry.get("git") or entry.get("local") or "")
            short = spec.rstrip("/").split("/")[-1].removesuffix(".git")
            if short and norm(short) not in installed:
                raise ProjectError([Problem(name, getattr(entry, "line", None),
                                            f"package {spec!r} is not installed under {packages_dir.name}/; "
                                            "fix: run `dbt deps` once (Kontor downloads nothing)")])


def _render_value(value: Any, env: Mapping[str, str]) -> Any:
    """Profile values may call env_var(); nothing else of Jinja is needed there."""
    if not isinstance(value, str) or "{{" not in value:
        return value

    def env_var(name: str, default: str | None = None) -> str:
        if name in env:
            return env[name]
        if default is None:
            raise KontorError(f"profiles.yml: env_var({name!r}) is not set and has no default")
        return default
    return jinja2.Environment().from_string(value).render(env_var=env_var)


def profiles_file(root: Path, env: Mapping[str, str]) -> Path | None:
    """dbt's search order: --profiles-dir (here DBT_PROFILES_DIR), the project directory, ~/.dbt."""
    candidates = [Path(env["DBT_PROFILES_DIR"]) / "profiles.yml"] if env.get("DBT_PROFILES_DIR") else []
    candidates += [root / "profiles.yml", Path(env.get("HOME", str(Path.home()))) / ".dbt" / "profiles.yml"]
    return next((c for c in candidates if c.is_file()), None)


def load_target(root: Path, profile: str, env: Mapping[str, str]) -> DbtTarget:
    """The profile's DuckDB target; without a profiles.yml, dbt-duckdb's defaults at ``<project>.duckdb``."""
    path = profiles_file(root, env)
    if path is None:
        return DbtTarget("dev", "main", root / "target" / f"{profile}.duckdb")
    shown = str(path)
    doc = yamlfile.load(path, shown) or {}
    entry = doc.get(profile)
    if not isinstance(entry, LineDict):
        raise ProjectError([Problem(shown, getattr(doc, "line", None), f"no profile {profile!r} (named by "
                                    f"dbt_project.yml 'profile:'); fix: add it or set DBT_PROFILES_DIR")])
    target_name = env.get("DBT_TARGET") or str(entry.get("target", "dev"))
    outputs = entry.get("outputs") or {}
    output = outputs.get(target_name)
    if not isinstance(output, LineDict):
        raise ProjectError([Problem(shown, entry.line, f"profile {profile!r} has no output {target_name!r}")])
    kind = _render_value(output.get("type"), env)
    if kind != "duckdb":
        raise ProjectError([Problem(shown, output.key_line("type"), f"target {target_name!r} is type {kind!r}; "
                                    "Kontor runs dbt projects on DuckDB only; fix: add a duckdb output")])
    raw_path = str(_render_value(output.get("path", ":memory:"), env))
    if raw_path == ":memory:" or raw_path.startswith(("md:", "motherduck:")):
        raise ProjectError([Problem(shown, output.key_line("path"), f"path {raw_path!r}: Kontor needs a DuckDB "
                                    "file (runs, checks and the serving copy share it); fix: path: <name>.duckdb")])
    db = Path(raw_path).expanduser()
    threads = output.get("threads")
    return DbtTarget(target_name, str(_render_value(output.get("schema", "main"), env)),
                     db if db.is_absolute() else (root / db).resolve(),
                     int(threads) if threads else None, shown)


def cli_vars(env: Mapping[str, str]) -> dict[str, Any]:
    """``KONTOR_VARS`` (or ``DBT_VARS``): YAML or JSON, like ``dbt run --vars``."""
    text = env.get("KONTOR_VARS") or env.get("DBT_VARS")
    if not text:
        return {}
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KontorError(f"KONTOR_VARS: not YAML/JSON ({exc}); fix: e.g. KONTOR_VARS='{{x: 1}}'") from exc
    if not isinstance(value, dict):
        raise KontorError("KONTOR_VARS: must be a mapping, e.g. KONTOR_VARS='{x: 1}'")
    return value


def project_vars(project: DbtProject, env: Mapping[str, str], package: str | None = None) -> dict[str, Any]:
    """dbt's var scoping: global vars, then those under the (package) project's name, then the CLI's."""
    names = {project.name, *(p.name for p in project.packages)}
    out: dict[str, Any] = {}
    for source in [*(p.vars for p in project.packages if p.name == package), project.vars]:
        out.update({k: v for k, v in source.items() if k not in names})
        out.update(source.get(package or project.name) or {})
    out.update(cli_vars(env))
    return out
