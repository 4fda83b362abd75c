"""Real dbt projects, run by dbt-duckdb and by Kontor unchanged: every table and every test outcome compared.

Run:  .venv/bin/python benchmarks/dbt_projects.py PROJECT_DIR [PROJECT_DIR ...] [--workdir DIR] [--vars YAML]

For each project (a directory with dbt_project.yml and, where it has packages, dbt_packages/
installed as ``dbt deps`` installs them):

1. two copies under ``<workdir>/<name>/{dbt,kontor}``, each with a profiles.yml pointing at its
   own DuckDB file (the project's profile name, target ``dev``, schema ``main``);
2. dbt: ``dbt seed`` then ``dbt build`` in the dbt-duckdb venv of benchmarks/models_vs_dbt.py
   (``<workdir>/dbt-venv``); test outcomes from ``target/run_results.json``;
3. Kontor: ``kontor run`` (``KONTOR_VARS`` as dbt's ``--vars``); test outcomes from the asset
   check evaluations, kept in ``kontor.gate_results``;
4. every relation of both warehouses (dbt's ``*_dbt_test__audit`` and Kontor's ``kontor`` schema
   aside): column names and types, and rows as a multiset.

jaffle-shop's two large seed files (raw_orders, raw_items) are not in every copy of its
repository (Git LFS); ``--synthesize-jaffle-orders N`` writes N orders and their items drawn from
the project's own customers, stores and products when they are missing, consistent with the
project's tests (order_total = subtotal + tax_paid).

A project whose sources are tables its README has you load first (a loader script, not a seed)
gets them with ``--setup-sql FILE``: the DuckDB SQL in FILE runs in each copy's warehouse, from
the copy's directory (relative paths in it are the project's), before dbt and Kontor run.

Prints one JSON document; exit code 0 whether or not the projects agree (the JSON says).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KONTOR_PY = Path(sys.executable)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def synthesize_jaffle_orders(seeds: Path, n_orders: int, seed: int = 20) -> bool:
    """raw_orders.csv and raw_items.csv for jaffle-shop when its repository copy lacks them.

    A customer orders at most once a day: jaffle-shop's ``orders.customer_order_number`` is
    ``row_number() over (partition by customer_id order by ordered_at)`` with ``ordered_at``
    truncated to the day, and DuckDB numbers tied rows differently from one execution to the next
    (the same ``create table`` in the same warehouse, twice, disagrees), so with ties no two runs,
    of dbt or of Kontor, need to agree on that column."""
    orders_csv, items_csv = seeds / "raw_orders.csv", seeds / "raw_items.csv"
    if orders_csv.is_file() and items_csv.is_file():
        return False
    rng = random.Random(seed)

    def rows(name: str) -> list[dict]:
        with open(seeds / name, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    customers, stores, products = rows("raw_customers.csv"), rows("raw_stores.csv"), rows("raw_products.csv")
    start = min(s["opened_at"] for s in stores)
    t0 = time.mktime(time.strptime(start[:10], "%Y-%m-%d"))
    orders, items, days = [], [], set()
    for _ in range(n_orders):
        customer = rng.choice(customers)["id"]
        while True:
            ts = t0 + rng.uniform(0, 3 * 365 * 86400)
            ordered_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))
            if (customer, ordered_at[:10]) not in days:
                days.add((customer, ordered_at[:10]))
                break
        open_stores = [s for s in stores if s["opened_at"] <= ordered_at] or stores[:1]
        store = rng.choice(open_stores)
        chosen = [rng.choice(products) for _ in range(rng.choice([1, 1, 2, 2, 3, 4]))]
        subtotal = sum(int(p["price"]) for p in chosen)
        tax = round(subtotal * float(store["tax_rate"]))
        oid = str(uuid.UUID(int=rng.getrandbits(128)))
        orders.append({"id": oid, "customer": customer, "ordered_at": ordered_at,
                       "store_id": store["id"], "subtotal": subtotal, "tax_paid": tax, "order_total": subtotal + tax})
        items += [{"id": str(uuid.UUID(int=rng.getrandbits(128))), "order_id": oid, "sku": p["sku"]} for p in chosen]
    for path, data in ((orders_csv, orders), (items_csv, items)):
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(data[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(data)
    return True


WAREHOUSE = "warehouse.duckdb"


def prepare(project: Path, dest: Path) -> str:
    """A copy of the project with its own profiles.yml; returns the profile name."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(project, dest, ignore=shutil.ignore_patterns("target", "*.duckdb", "logs", ".git"))
    import yaml

    profile = yaml.safe_load((dest / "dbt_project.yml").read_text(encoding="utf-8")).get("profile") or "default"
    (dest / "profiles.yml").write_text(yaml.safe_dump(
        {profile: {"target": "dev", "outputs": {"dev": {"type": "duckdb", "path": WAREHOUSE, "threads": 4}}}}),
        encoding="utf-8")
    return profile


def setup(dest: Path, sql_file: Path) -> None:
    """Run the project's loader SQL in the copy's warehouse, from the copy's directory."""
    import duckdb

    here = Path.cwd()
    os.chdir(dest)
    try:
        con = duckdb.connect(WAREHOUSE)
        try:
            con.execute(sql_file.read_text(encoding="utf-8"))
        finally:
            con.close()
    finally:
        os.chdir(here)


def run_dbt(dbt: Path, project: Path, vars_: str | None) -> dict:
    extra = ["--vars", vars_] if vars_ else []
    env = {**os.environ, "DBT_PROFILES_DIR": str(project), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    started = time.perf_counter()
    seed = subprocess.run([str(dbt), "seed", "--profiles-dir", str(project), *extra], cwd=project, env=env,
                          capture_output=True, text=True)
    build = subprocess.run([str(dbt), "build", "--profiles-dir", str(project), *extra], cwd=project, env=env,
                           capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    results = json.loads((project / "target" / "run_results.json").read_text()) if \
        (project / "target" / "run_results.json").is_file() else {"results": []}
    tests, nodes = {}, {}
    for r in results["results"]:
        kind, _, rest = r["unique_id"].partition(".")
        name = rest.split(".")[1] if kind == "test" else rest.split(".")[-1]
        (tests if kind in ("test", "unit_test") else nodes)[name] = {"status": r["status"], "failures": r.get("failures")}
    return {"seconds": round(elapsed, 2), "seed_exit": seed.returncode, "build_exit": build.returncode,
            "tests": tests, "nodes": nodes,
            "log_tail": (seed.stdout + build.stdout)[-1500:] if build.returncode else ""}


def run_kontor(project: Path, vars_: str | None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KONTOR_PROJECT_DIR": str(project)}
    env.pop("DBT_PROFILES_DIR", None)
    if vars_:
        env["KONTOR_VARS"] = vars_
    started = time.perf_counter()
    done = subprocess.run([str(KONTOR_PY), "-m", "pipelines.cli", "run"], cwd=project, env=env,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    tests = {}
    db = project / WAREHOUSE
    if db.is_file():
        import duckdb

        con = duckdb.connect(str(db), read_only=True)
        try:
            has = con.execute("select count(*) from information_schema.tables where table_schema = 'kontor' "
                              "and table_name = 'gate_results'").fetchone()[0]
            for rule, severity, success, unexpected in (con.execute(
                    "select rule, severity, success, unexpected_count from kontor.gate_results").fetchall() if has else []):
                name = rule.removesuffix("__warn")
                status = "pass" if success else ("fail" if severity == "error" else "warn")
                if status == "fail" and unexpected is None:
                    status = "error"       # its query could not run (dbt: the test's status `error`)
                prev = tests.get(name, {"status": "pass"})["status"]
                # dbt reports one status per test: error over fail over warn over pass
                rank = {"pass": 0, "warn": 1, "fail": 2, "error": 3}
                if name not in tests or rank[status] > rank[prev]:
                    tests[name] = {"status": status, "failures": unexpected}
        finally:
            con.close()
    return {"seconds": round(elapsed, 2), "exit": done.returncode, "tests": tests,
            "output_tail": (done.stdout + done.stderr)[-1500:] if done.returncode else ""}


def relations(db: Path) -> dict[str, tuple[list, Counter]]:
    """Every relation of the warehouse, read from its copy's directory (a view over a file may name
    it relative to the project, as dbt ran it)."""
    import duckdb

    if not db.is_file():         # a run refused before it built anything (Kontor's check) has no warehouse
        return {}
    here, db = Path.cwd(), db.resolve()
    os.chdir(db.parent)
    con = duckdb.connect(str(db), read_only=True)
    try:
        found = {}
        for schema, table in con.execute(
                "select table_schema, table_name from information_schema.tables where table_schema <> 'kontor' "
                "and table_schema not like '%dbt_test__audit' and table_name not like '\\_\\_kontor%' escape '\\' "
                "and table_catalog = current_database()").fetchall():
            cols = con.execute("select column_name, data_type from information_schema.columns where table_schema = ? "
                               "and table_name = ? order by ordinal_position", [schema, table]).fetchall()
            rows = Counter(tuple(_hashable(v) for v in r)
                           for r in con.execute(f'select * from "{schema}"."{table}"').fetchall())
            found[f"{schema}.{table}"] = ([list(c) for c in cols], rows)
        return found
    finally:
        con.close()
        os.chdir(here)


def _hashable(value):
    """LIST and STRUCT values (Python lists and dicts) as tuples, so rows can be counted."""
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _hashable(v)) for k, v in value.items())
    return value


def _rounded(rows: Counter) -> Counter:
    return Counter(tuple(float(f"{v:.12g}") if isinstance(v, float) else v for v in r) for r in rows.elements())


def compare(dbt_db: Path, kontor_db: Path) -> dict:
    a, b = relations(dbt_db), relations(kontor_db)
    out = {"identical": [], "different": {}, "only_dbt": sorted(set(a) - set(b)), "only_kontor": sorted(set(b) - set(a))}
    for name in sorted(set(a) & set(b)):
        (cols_a, rows_a), (cols_b, rows_b) = a[name], b[name]
        problems = {}
        if cols_a != cols_b:
            problems["columns"] = {"dbt": cols_a, "kontor": cols_b}
        if rows_a != rows_b:
            # Which single column, left out, makes the rows equal (e.g. a row_number over ties,
            # which no two runs of the same engine need to agree on).
            width = len(cols_a) if cols_a == cols_b else 0
            only_in = [cols_a[i][0] for i in range(width)
                       if Counter(r[:i] + r[i + 1:] for r in rows_a.elements()) ==
                       Counter(r[:i] + r[i + 1:] for r in rows_b.elements())]
            problems["rows_equal_without_column"] = only_in
            # Sums of DOUBLEs differ in their last bits with the order a parallel aggregate adds
            # them in, from one execution to the next of either tool: equal to 12 significant digits?
            problems["rows_equal_with_doubles_to_12_digits"] = _rounded(rows_a) == _rounded(rows_b)
            problems["rows"] = {"dbt": sum(rows_a.values()), "kontor": sum(rows_b.values()),
                                "only_dbt_sample": [repr(r) for r in list((rows_a - rows_b).elements())[:3]],
                                "only_kontor_sample": [repr(r) for r in list((rows_b - rows_a).elements())[:3]]}
        if problems:
            out["different"][name] = problems
        else:
            out["identical"].append(f"{name} ({sum(rows_a.values())} rows)")
    return out


def compare_tests(dbt_tests: dict, kontor_tests: dict) -> dict:
    # A test whose model failed: dbt reports it skipped, Kontor runs no check (the model's asset
    # is not materialised), so it has no outcome there either.
    kontor_tests = {**{n: {"status": "skipped", "failures": None} for n, t in dbt_tests.items()
                       if t["status"] == "skipped" and n not in kontor_tests}, **kontor_tests}
    same = sorted(n for n in dbt_tests if n in kontor_tests and dbt_tests[n]["status"] == kontor_tests[n]["status"])
    differ = {n: {"dbt": dbt_tests[n], "kontor": kontor_tests[n]} for n in dbt_tests
              if n in kontor_tests and dbt_tests[n]["status"] != kontor_tests[n]["status"]}
    return {"same_outcome": len(same), "outcomes": Counter(dbt_tests[n]["status"] for n in same),
            "different_outcome": differ, "only_dbt": sorted(set(dbt_tests) - set(kontor_tests)),
            "only_kontor": sorted(set(kontor_tests) - set(dbt_tests))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("projects", nargs="+", type=Path)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/kontor-dbt-projects"))
    parser.add_argument("--vars", default=None, help="YAML, as dbt run --vars (e.g. '{load_source_data: true}')")
    parser.add_argument("--synthesize-jaffle-orders", type=int, default=0)
    parser.add_argument("--setup-sql", type=Path, default=None,
                        help="DuckDB SQL run in each copy's warehouse before dbt and Kontor (sources to load)")
    parser.add_argument("--database", default="warehouse",
                        help="the DuckDB file's name without .duckdb, so its catalog: a project whose sources "
                             "name `database: dev` needs dev, as its own profiles.yml has it")
    args = parser.parse_args()
    global WAREHOUSE
    WAREHOUSE = f"{args.database}.duckdb"
    sys.path.insert(0, str(ROOT))
    from benchmarks.models_vs_dbt import ensure_dbt_venv

    args.workdir.mkdir(parents=True, exist_ok=True)
    dbt, versions, note = ensure_dbt_venv(args.workdir)
    report = {"dbt": versions, "dbt_venv": note, "vars": args.vars, "projects": {}}
    for project in args.projects:
        name = project.resolve().name
        entry: dict = {"path": str(project)}
        report["projects"][name] = entry
        try:
            dirs = {side: args.workdir / name / side for side in ("dbt", "kontor")}
            for side, dest in dirs.items():
                prepare(project, dest)
                if args.setup_sql:
                    setup(dest, args.setup_sql.resolve())
                if args.synthesize_jaffle_orders:
                    for seeds in dest.glob("seeds/*"):
                        if (seeds / "raw_customers.csv").is_file() and (seeds / "raw_stores.csv").is_file():
                            entry["synthesized_seeds"] = synthesize_jaffle_orders(seeds, args.synthesize_jaffle_orders)
            log(f"{name}: dbt seed + dbt build")
            entry["dbt"] = run_dbt(dbt, dirs["dbt"], args.vars)
            log(f"{name}: kontor run")
            entry["kontor"] = run_kontor(dirs["kontor"], args.vars)
            entry["tables"] = compare(dirs["dbt"] / WAREHOUSE, dirs["kontor"] / WAREHOUSE)
            entry["tests"] = compare_tests(entry["dbt"].pop("tests"), entry["kontor"].pop("tests"))
            entry["dbt"].pop("nodes", None)
            entry["agree"] = not (entry["tables"]["different"] or entry["tables"]["only_dbt"] or entry["tables"]["only_kontor"]
                                  or entry["tests"]["different_outcome"] or entry["tests"]["only_dbt"]
                                  or entry["tests"]["only_kontor"])
        except Exception as exc:  # noqa: BLE001 - the figures so far are still printed
            entry["error"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
