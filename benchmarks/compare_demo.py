"""Do two versions of Kontor build the same demo? Every warehouse table and every report's facts, compared.

Run:
    .venv/bin/python benchmarks/compare_demo.py /work/main /work/wt/x          # two checkouts, scale 0.1
    .venv/bin/python benchmarks/compare_demo.py /work/main@b04e03b . --scale 0.1 --workdir /tmp/kcd
    .venv/bin/python benchmarks/compare_demo.py a/target/warehouse.duckdb b/target/warehouse.duckdb

Each side is a checkout (its working tree, as it is), ``CHECKOUT@REV`` (that commit of the
checkout's repository, through ``git archive``) or an existing warehouse file. A checkout is
copied (without ``.git``, ``.venv``, ``target``, ``data``, ``state``) into a fresh project
directory under the work directory, and built there with its own code: ``kontor demo-data
--scale S`` and ``kontor run`` in a subprocess with ``PYTHONPATH`` set to the copy, the
interpreter given by ``--python`` (default: this one), and an environment without Kontor's,
Dagster's and the LLM's variables (template narrative, no e-mail, no webhooks, the state store
in the copy). Nothing is written into either checkout.

The comparison attaches both warehouses read-only to one DuckDB connection and compares, per
table and view of either: the column names and types, then the rows as multisets (``EXCEPT ALL``
both ways, which equals comparing the rows sorted by every column). Columns that differ from
build to build by nature are left out, each for a reason (``VOLATILE``): load and issue
timestamps, run and batch ids, durations, and the project directory inside paths (rewritten to
``<project>``). A table whose rows differ only in DOUBLE/FLOAT columns is compared again with
rows sorted by every column and floats equal within ``--rel-tol`` (default 1e-9): DuckDB sums
doubles in parallel, in an order that varies between runs, which changes the last bits; such a
table is reported as ``equal_within_float_tolerance``, never as ``equal``.

``reports.facts`` is also compared report by report (``reports``), with the same exclusions.

Prints one JSON object on stdout (progress on stderr): ``sides``, ``summary`` (tables equal,
equal within float tolerance, different, only on one side), ``tables`` (per table: status, row
counts, rows only in a / only in b, a few of them as samples), ``reports``. Exit status 0 when
nothing differs, 1 when something does, 2 when a build fails.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from fnmatch import fnmatch
from pathlib import Path

import duckdb

# What a checkout's copy leaves out: history, environments, and everything a build writes.
NOT_COPIED = {".git", ".venv", "target", "data", "state", "__pycache__", ".pytest_cache", "node_modules"}
# Environment variables a build must not inherit (they would point it at other files or services).
ENV_PREFIXES = ("KONTOR_", "DAGSTER_", "OPENAI_", "DBT_")
SAMPLES = 5

# (relation pattern, column) -> why it differs between two builds of the same code; the pattern
# is an fnmatch pattern over ``schema.table``. Only these are left out; all else must be equal.
# Kontor's own bookkeeping (kontor.*, entities.*, reports.*) records when and in which run.
BOOKKEEPING = ("kontor.*", "entities.*", "reports.*")
_WHEN = {
    "recorded_at": "when the event was recorded", "listed_at": "when the item was listed",
    "trained_at": "when the model was trained", "checked_at": "when the gate ran",
    "started_at": "when the load started", "finished_at": "when the load finished",
    "quarantined_at": "when the row was quarantined", "detected_at": "when the removal was seen",
    "computed_at": "when the report's facts were computed",
}
VOLATILE: dict[tuple[str, str], str] = {
    ("*", "run_id"): "Dagster's run id (a uuid per run)",
    **{(pattern, column): why for pattern in BOOKKEEPING for column, why in _WHEN.items()},
    ("kontor.steward_decisions", "created_at"): "when the decision was recorded",
    ("kontor.gate_fingerprints", "docs_page"): "the Data Docs page's path holds the run id and time",
    ("kontor.gate_fingerprints", "fingerprint"): "a hash over the gated rows, raw's _loaded_at included",
    ("raw.*", "_loaded_at"): "when the row was loaded (a lineage column)",
}
# (relation pattern, column) -> (SQL over {col} that drops the volatile part of a JSON value, why)
NORMALISED: dict[tuple[str, str], tuple[str, str]] = {
    ("entities._models", "training_log"): ("""json_merge_patch({col}, '{{"seconds": null}}')""",
                                           "its 'seconds' is how long training took"),
    ("entities._models", "model"): ("""json_merge_patch({col}, '{{"linker_uid": null}}')""",
                                    "Splink's linker_uid is random per linker"),
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Building a side
# --------------------------------------------------------------------------------------------

def copy_checkout(spec: str, dest: Path) -> str:
    """The project files of ``spec`` (``DIR`` or ``DIR@REV``) in ``dest``; returns what was copied."""
    directory, _, rev = spec.partition("@")
    source = Path(directory).resolve()
    if rev:
        dest.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(source), "archive", "--format=tar", rev],
                                 check=True, capture_output=True).stdout
        with tarfile.open(fileobj=__import__("io").BytesIO(archive)) as tar:
            tar.extractall(dest, filter="data")
        commit = subprocess.run(["git", "-C", str(source), "rev-parse", rev], check=True,
                                capture_output=True, text=True).stdout.strip()
        return f"{source} at {commit}"
    shutil.copytree(source, dest, ignore=lambda _dir, names: [n for n in names if n in NOT_COPIED])
    head = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return f"{source} working tree (HEAD {head.stdout.strip() or '?'}{', with uncommitted changes' if dirty else ''})"


def build(spec: str, project: Path, scale: float, python: str) -> dict:
    """Copy ``spec`` to ``project`` and build the demo there; returns what was built and how long it took."""
    described = copy_checkout(spec, project)
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    env.update(PYTHONPATH=str(project), KONTOR_PROJECT_DIR=str(project), KONTOR_SETTLE_SECONDS="0",
               PYTHONHASHSEED="0")
    steps = {}
    for name, args in (("demo_data", ["demo-data", "--scale", f"{scale:g}"]), ("run", ["run"])):
        log(f"[{project.name}] kontor {' '.join(args)} ...")
        started = time.perf_counter()
        done = subprocess.run([python, "-m", "pipelines.cli", *args], cwd=project, env=env,
                              capture_output=True, text=True)
        steps[f"{name}_s"] = round(time.perf_counter() - started, 1)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
            raise BuildFailed(f"{described}: kontor {' '.join(args)} exited {done.returncode}:\n{tail}")
    return {"source": described, "project": str(project), "warehouse": str(project / "target" / "warehouse.duckdb"),
            **steps}


class BuildFailed(Exception):
    pass


# --------------------------------------------------------------------------------------------
# Comparing two warehouses
# --------------------------------------------------------------------------------------------

def q(name: str) -> str:
    """An identifier for DuckDB: double quotes, inner quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def relations(con: duckdb.DuckDBPyConnection, catalog: str) -> dict[str, str]:
    """``schema.name`` -> ``table`` or ``view`` for every relation of an attached database."""
    rows = con.execute(
        "select schema_name, table_name, 'table' from duckdb_tables() where database_name = ? "
        "union all select schema_name, view_name, 'view' from duckdb_views() where database_name = ? and not internal",
        [catalog, catalog]).fetchall()
    return {f"{schema}.{name}": kind for schema, name, kind in rows}


def columns(con: duckdb.DuckDBPyConnection, catalog: str, relation: str) -> list[tuple[str, str]]:
    schema, name = relation.split(".", 1)
    return [tuple(row) for row in con.execute(
        "select column_name, data_type from duckdb_columns() where database_name = ? and schema_name = ? "
        "and table_name = ? order by column_index", [catalog, schema, name]).fetchall()]


def _lookup(table: dict, relation: str, column: str):
    return next((v for (pattern, col), v in table.items() if col == column and fnmatch(relation, pattern)), None)


def volatile(relation: str, column: str) -> str | None:
    return _lookup(VOLATILE, relation, column)


def select_list(cols: list[tuple[str, str]], relation: str, roots: dict[str, str], side: str) -> tuple[str, list[str]]:
    """The compared expression per column (volatile ones left out, the project dir in text
    replaced by ``<project>``), and the names left out."""
    parts, left_out = [], []
    root = roots.get(side)
    for name, dtype in cols:
        normalised = _lookup(NORMALISED, relation, name)
        if volatile(relation, name):
            left_out.append(name)
        elif normalised:
            parts.append(f"{normalised[0].format(col=q(name))} as {q(name)}")
        elif root and dtype == "VARCHAR":
            parts.append(f"replace({q(name)}, '{root.replace(chr(39), chr(39) * 2)}', '<project>') as {q(name)}")
        else:
            parts.append(q(name))
    return ", ".join(parts) or "1 as no_columns", left_out


def is_float(dtype: str) -> bool:
    return dtype in ("DOUBLE", "FLOAT", "REAL")


def close_rows(a: list[tuple], b: list[tuple], float_cols: set[int], rel_tol: float) -> bool:
    if len(a) != len(b):
        return False
    for row_a, row_b in zip(a, b):
        for i, (x, y) in enumerate(zip(row_a, row_b)):
            if x == y:
                continue
            if i in float_cols and isinstance(x, float) and isinstance(y, float) and (
                    math.isclose(x, y, rel_tol=rel_tol, abs_tol=rel_tol) or (math.isnan(x) and math.isnan(y))):
                continue
            return False
    return True


def compare_relation(con, relation: str, roots: dict[str, str], rel_tol: float, where: str = "") -> dict:
    cols_a, cols_b = columns(con, "a", relation), columns(con, "b", relation)
    result: dict = {}
    if cols_a != cols_b:
        return {"status": "different", "columns_a": cols_a, "columns_b": cols_b,
                "reason": "columns (names, types or order) differ"}
    sel_a, left_out = select_list(cols_a, relation, roots, "a")
    sel_b, _ = select_list(cols_b, relation, roots, "b")
    ref_a, ref_b = f"a.{relation_ref(relation)}", f"b.{relation_ref(relation)}"
    qa, qb = f"select {sel_a} from {ref_a} {where}", f"select {sel_b} from {ref_b} {where}"
    rows_a = con.execute(f"select count(*) from ({qa})").fetchone()[0]
    rows_b = con.execute(f"select count(*) from ({qb})").fetchone()[0]
    only_a = con.execute(f"select count(*) from ({qa} except all {qb})").fetchone()[0]
    only_b = con.execute(f"select count(*) from ({qb} except all {qa})").fetchone()[0]
    result.update(rows_a=rows_a, rows_b=rows_b, only_in_a=only_a, only_in_b=only_b)
    if left_out:
        result["left_out"] = {name: volatile(relation, name) for name in left_out}
    normalised = {name: _lookup(NORMALISED, relation, name)[1] for name, _ in cols_a if _lookup(NORMALISED, relation, name)}
    if normalised:
        result["normalised"] = normalised
    if only_a == only_b == 0:
        result["status"] = "equal"
        return result
    compared = [c for c in cols_a if not volatile(relation, c[0])]
    float_cols = {i for i, (_, dtype) in enumerate(compared) if is_float(dtype)}
    if float_cols and rows_a == rows_b:
        order = ", ".join(str(i + 1) for i in range(len(compared)))
        data_a = con.execute(f"{qa} order by {order}").fetchall()
        data_b = con.execute(f"{qb} order by {order}").fetchall()
        if close_rows(data_a, data_b, float_cols, rel_tol):
            result["status"] = "equal_within_float_tolerance"
            result["float_columns"] = [compared[i][0] for i in sorted(float_cols)]
            return result
    result["status"] = "different"
    result["samples_only_in_a"] = [list(map(str, r)) for r in con.execute(f"{qa} except all {qb} limit {SAMPLES}").fetchall()]
    result["samples_only_in_b"] = [list(map(str, r)) for r in con.execute(f"{qb} except all {qa} limit {SAMPLES}").fetchall()]
    result["columns"] = [c[0] for c in compared]
    return result


def relation_ref(relation: str) -> str:
    schema, name = relation.split(".", 1)
    return f"{q(schema)}.{q(name)}"


def compare_warehouses(path_a: Path, path_b: Path, roots: dict[str, str], rel_tol: float) -> dict:
    con = duckdb.connect()
    con.execute(f"attach '{path_a}' as a (read_only)")
    con.execute(f"attach '{path_b}' as b (read_only)")
    rel_a, rel_b = relations(con, "a"), relations(con, "b")
    tables: dict[str, dict] = {}
    for relation in sorted(set(rel_a) | set(rel_b)):
        if relation not in rel_b:
            tables[relation] = {"status": "only_in_a", "kind": rel_a[relation]}
            continue
        if relation not in rel_a:
            tables[relation] = {"status": "only_in_b", "kind": rel_b[relation]}
            continue
        log(f"comparing {relation}")
        try:
            tables[relation] = {"kind": rel_a[relation], **compare_relation(con, relation, roots, rel_tol)}
        except duckdb.Error as exc:
            tables[relation] = {"status": "different", "kind": rel_a[relation],
                                "reason": f"could not be compared: {str(exc).splitlines()[0]}"}
        if rel_a[relation] != rel_b[relation]:
            tables[relation].update(status="different", reason=f"a {rel_a[relation]} in a, a {rel_b[relation]} in b")
    reports: dict[str, dict] = {}
    if "reports.facts" in rel_a and "reports.facts" in rel_b:
        names = sorted({r[0] for side in "ab" for r in con.execute(f"select distinct report from {side}.reports.facts").fetchall()})
        for name in names:
            literal = name.replace("'", "''")
            reports[name] = compare_relation(con, "reports.facts", roots, rel_tol, where=f"where report = '{literal}'")
    con.close()
    return {"tables": tables, "reports": reports}


def summarise(tables: dict[str, dict], reports: dict[str, dict]) -> dict:
    counts: dict[str, int] = {}
    for entry in tables.values():
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    return {"tables": len(tables), **{s: counts.get(s, 0) for s in
            ("equal", "equal_within_float_tolerance", "different", "only_in_a", "only_in_b")},
            "reports": len(reports), "reports_equal": sum(r["status"] != "different" for r in reports.values()),
            "reports_different": sum(r["status"] == "different" for r in reports.values())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a", help="a checkout (DIR or DIR@REV) or a warehouse file (*.duckdb)")
    parser.add_argument("b", help="the same for the other side")
    parser.add_argument("--scale", type=float, default=0.1, help="demo data scale (default 0.1)")
    parser.add_argument("--workdir", type=Path, help="where the builds go (default: a temporary directory, removed after)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter that builds (default: this one)")
    parser.add_argument("--rel-tol", type=float, default=1e-9, help="float tolerance for DOUBLE columns (default 1e-9)")
    args = parser.parse_args(argv)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kontor-compare-"))
    workdir.mkdir(parents=True, exist_ok=True)
    sides, roots, paths = {}, {}, {}
    try:
        for side, spec in (("a", args.a), ("b", args.b)):
            if spec.endswith(".duckdb") and Path(spec).is_file():
                paths[side] = Path(spec).resolve()
                sides[side] = {"source": str(paths[side]), "warehouse": str(paths[side])}
                if paths[side].parent.name == "target":    # <project>/target/warehouse.duckdb
                    roots[side] = str(paths[side].parent.parent)
                continue
            project = workdir / f"project_{side}"
            if project.exists():
                shutil.rmtree(project)
            try:
                sides[side] = build(spec, project, args.scale, args.python)
            except (BuildFailed, subprocess.CalledProcessError, OSError) as exc:
                print(json.dumps({"error": str(exc)}, indent=2))
                return 2
            paths[side], roots[side] = Path(sides[side]["warehouse"]), str(project)
        compared = compare_warehouses(paths["a"], paths["b"], roots, args.rel_tol)
        summary = summarise(compared["tables"], compared["reports"])
        print(json.dumps({"sides": sides, "scale": args.scale, "summary": summary, **compared}, indent=2, default=str))
        return 0 if summary["different"] == summary["only_in_a"] == summary["only_in_b"] == summary["reports_different"] == 0 else 1
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
