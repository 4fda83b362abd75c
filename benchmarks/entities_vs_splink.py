"""Benchmark: Kontor's entity stage (customers + suppliers) against a bare Splink 5 script.

Run:  .venv/bin/python benchmarks/entities_vs_splink.py [--scales 21 210] [--repeats 3 2] [--workdir DIR]
                                                          [--variants kontor bare kontor_html dagster]

Prints one JSON object on stdout (progress goes to stderr). Per demo scale:

1. The demo extracts (``pipelines.demo.generate``) are written into a throw-away Kontor project
   (``pyproject.toml``, the repository's ``models/`` copied, as ``tests/conftest.py::make_project``
   with ``with_models=True``) and loaded by Kontor (``run_pipeline(settings, ['group:raw',
   'group:staging'])``). That warehouse and the Dagster instance are cached in the work directory
   (``raw_staging.duckdb``; reused while the scale, seed and generator agree; ``--rebuild`` forces).
2. Every invocation copies ``models/`` again and runs Kontor's ``standardise`` for both entities on
   a copy of that warehouse; ``entities.<e>_standardised`` is kept, the IBAN/VAT-ID cache
   (``entities._id_checks``) dropped: ``snapshot.duckdb``, the state every measurement starts from.
3. Measurements, each in a fresh subprocess on a fresh copy of the snapshot, the variants'
   order rotating from repeat to repeat:
   - ``kontor``: the entity stage's steps (``pipelines/entities/stage.py``, as ``assets/entities.py``
     calls them), for both entities: ``standardise``, ``train`` (trains: the snapshot holds no
     model), ``score`` (``explain_dir=None``), ``cluster``, ``resolve`` (no state store),
     ``sync``; connect to close, every step timed.
   - ``kontor_html``: the same with ``score(..., explain_dir=...)``: Splink's charts and dashboards.
   - ``bare``: plain Splink on ``entities.<e>_standardised`` of the snapshot with the settings
     Kontor builds (``spec.splink``, ``spec.training``, ``spec.thresholds``): a Linker over one view
     per system (records with a ``name_key``, as Kontor matches them), λ from the deterministic
     rules with recall, u by random sampling (max_pairs, seed), EM per blocking rule (max_pairs),
     predict at the review threshold, connected components at the match threshold. No
     standardisation, no golden records. Only ``duckdb`` and ``splink`` are imported.
   - ``dagster``: ``run_pipeline(settings, ['group:entities'])``, what ``kontor run`` does: the
     same engine plus HTML, asset metadata, the Dagster event log and the serving copy (its step
     time and its CPU seconds, comments and copy, are reported apart); no ground-truth evaluation
     (``kontor run`` evaluates only with ``--evaluate``; the accuracy below is computed apart,
     after the run). It starts from the serving copy the raw/staging build published (kept in
     ``raw_staging_serving/`` with its record), as a user's run after loading does: since the
     serving copy is built on the previous one, only what the entity group wrote is copied.
4. Pairwise precision/recall/F1 against ``data/ground_truth/entities.csv``: Kontor's with
   ``pipelines.entities.evaluate.evaluate`` on its ``entities.<e>_clusters``; bare Splink's with the
   same function on its clusters (``cluster_id`` as the golden id), golden-value checks left out.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the project's environment; from a checkout without its own .venv (a git worktree), this interpreter
PY = ROOT / ".venv" / "bin" / "python" if (ROOT / ".venv" / "bin" / "python").exists() else Path(sys.executable)
SEED = 42
PREP_VERSION = 2       # 2: the raw/staging build's serving copy is kept (raw_staging_serving/)
# issue 18: a full `kontor run` of the entity group (the `dagster` variant) at most 1.15x bare Splink at
# 1M source records and 1.5x at 10k, peak RSS below 6 GB at 1M; the engine alone at most 1.25x; same F1
TARGETS = {"ratio_dagster_to_bare_at_10k": 1.5, "ratio_dagster_to_bare_at_1m": 1.15, "ratio_kontor_to_bare": 1.25,
           "peak_rss_mb_at_1m": 6144, "f1_difference": 0.005}
VARIANTS = ("kontor", "bare", "kontor_html", "dagster")
DEFAULT_VARIANTS = VARIANTS
MASTER_FILES = {"customer": ["crm/accounts.csv", "erp/customers.parquet", "accounting/debitoren.csv"],
                "supplier": ["erp/suppliers.parquet", "accounting/kreditoren.csv"]}
STEPS = ("standardise", "train", "predict", "cluster", "resolve", "studio", "sync")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _rss_mb() -> float:
    """This process's peak RSS (VmHWM: ru_maxrss would carry the parent's peak across exec)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def code_fingerprint(project: Path | None = None) -> dict[str, str]:
    """sha256 prefixes of the code and declarations under test (others edit them during runs)."""
    files = sorted((ROOT / "pipelines" / "entities").glob("*.py")) + sorted((ROOT / "models" / "entities").glob("*.yml"))
    files += sorted((ROOT / "pipelines" / "entities" / "sql").glob("*.sql"))
    files += [ROOT / "assets" / "entities.py", ROOT / "pipelines" / "warehouse.py", ROOT / "pipelines" / "run.py"]
    out = {str(p.relative_to(ROOT)): hashlib.sha256(p.read_bytes()).hexdigest()[:12] for p in files if p.is_file()}
    if project is not None:
        for p in sorted((project / "models" / "entities").glob("*.yml")):
            out["project:" + str(p.relative_to(project))] = hashlib.sha256(p.read_bytes()).hexdigest()[:12]
    return out


def _cpu_s() -> float:
    """User + system CPU seconds of this process, all threads (DuckDB's included)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Steps:
    """Wall time, CPU seconds and peak-RSS growth per step (VmHWM only grows, so growth says who
    raised it)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}
        self.rss_growth: dict[str, float] = {}
        self._hwm = _rss_mb()

    def run(self, name: str, fn, *a, **kw):
        started, cpu0 = time.perf_counter(), _cpu_s()
        try:
            return fn(*a, **kw)
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
            self.cpu_seconds[name] = self.cpu_seconds.get(name, 0.0) + _cpu_s() - cpu0
            hwm = _rss_mb()
            if hwm > self._hwm:
                self.rss_growth[name] = round(self.rss_growth.get(name, 0.0) + hwm - self._hwm, 1)
                self._hwm = hwm


def _close_and_report(con, steps: Steps, started: float, cpu0: float, rss_before: float, **extra) -> dict:
    """Close the connection (timed as a step) and return a child's measurements."""
    before_close = time.perf_counter()
    peak_before_close = _rss_mb()
    steps.run("close", con.close)
    return {"elapsed_s": time.perf_counter() - started, "cpu_s": _cpu_s() - cpu0,
            "before_close_s": before_close - started, "peak_rss_mb": _rss_mb(),
            "peak_rss_before_close_mb": peak_before_close, "rss_before_mb": rss_before,
            "steps": steps.seconds, "steps_cpu": steps.cpu_seconds, "rss_growth_mb": steps.rss_growth, **extra, "loadavg": os.getloadavg()}


# --------------------------------------------------------------------------------------------
# Project, data, snapshots
# --------------------------------------------------------------------------------------------

def load_project(project: Path):
    """Settings, compiled models and entity specs, without importing Dagster."""
    from pipelines.entities.spec import load_entities
    from pipelines.models.compile import compile_project
    from pipelines.models.project import load_models
    from pipelines.core.settings import load_settings
    from pipelines.sources.spec import load_sources

    settings = load_settings(project, env={})
    sources = load_sources(settings.sources_file, settings.relative(settings.sources_file))
    compiled = compile_project(load_models(settings, sources), display=settings.relative)
    if compiled.problems:
        raise SystemExit(f"models do not compile: {compiled.problems[:3]}")
    entities = load_entities(settings, {name: compiled.output_columns(name) for name in compiled.models})
    if entities.problems:
        raise SystemExit(f"entity files have problems: {entities.problems[:3]}")
    relations = {name: cm.model.relation for name, cm in compiled.models.items()}
    return settings, relations, entities.entities


def write_project(project: Path) -> None:
    """As tests/conftest.py::make_project(with_models=True): pyproject.toml and the shipped models."""
    project.mkdir(parents=True, exist_ok=True)
    (project / "pyproject.toml").write_text('[tool.kontor]\nname = "bench"\ndata_dir = "data"\ntarget_dir = "target"\n')
    shutil.rmtree(project / "models", ignore_errors=True)
    shutil.copytree(ROOT / "models", project / "models")
    # the comparison is on the company entities, which a bare Splink script scores from Kontor's
    # settings; contact persons (declared by type, linked through the customers' xref) are left out
    (project / "models" / "entities" / "contact.yml").unlink(missing_ok=True)
    (project / "data").mkdir(exist_ok=True)


def connect(path: Path, tmp: Path):
    """Kontor's connection, with DuckDB's spill directory in the work directory."""
    from pipelines.core.warehouse import connect as kontor_connect

    con = kontor_connect(path)
    tmp.mkdir(parents=True, exist_ok=True)
    con.execute(f"set temp_directory = '{tmp}'")
    return con


def generator_fingerprint() -> str:
    """sha256 prefix of the demo generator's code: generated data is reused only from the same code."""
    files = sorted((ROOT / "pipelines" / "demo").glob("*.py"))
    return hashlib.sha256(b"".join(p.name.encode() + p.read_bytes() for p in files)).hexdigest()[:12]


def demo_data(workdir: Path, scale: float, target: Path) -> tuple[dict, float | None]:
    """The demo extracts at ``scale`` (seed 42) copied to ``target``; generated once per scale, seed
    and generator code into ``<workdir>/demo_data/`` (generating 1M records takes many minutes,
    ``--rebuild`` and a change of the standardisation reuse them). Returns the manifest and the
    seconds generating took (None: reused)."""
    cache = workdir / "demo_data" / f"scale{scale:g}_seed{SEED}_{generator_fingerprint()}"
    manifest_path = cache / "ground_truth" / "manifest.json"
    generate_s = None
    if manifest_path.is_file():
        log(f"scale {scale}: demo data from {cache}")
    else:
        from pipelines.demo import generate

        partial = cache.with_name(cache.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        log(f"scale {scale}: generating demo data into {cache}")
        started = time.perf_counter()
        generate(partial, scale=scale, seed=SEED)       # writes the manifest last
        partial.rename(cache)
        generate_s = time.perf_counter() - started
        log(f"scale {scale}: generated in {generate_s:.0f}s")
    shutil.copytree(cache, target)
    return json.loads(manifest_path.read_text()), generate_s


def prepare(scale_dir: Path, scale: float, rebuild: bool) -> dict:
    """Demo data + raw/staging warehouse (cached), then the standardised snapshot (every time)."""
    project = scale_dir / "project"
    raw_snap = scale_dir / "raw_staging.duckdb"
    dagster_snap = scale_dir / "dagster_home_snapshot"
    serving_snap = scale_dir / "raw_staging_serving"
    meta_path = scale_dir / "prepared.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    fresh = (not rebuild and raw_snap.is_file() and dagster_snap.is_dir() and serving_snap.is_dir()
             and meta.get("scale") == scale
             and meta.get("seed") == SEED and meta.get("version") == PREP_VERSION)
    write_project(project)
    settings = None
    if not fresh:
        shutil.rmtree(project / "data", ignore_errors=True)
        shutil.rmtree(project / "target", ignore_errors=True)
        manifest, gen_s = demo_data(scale_dir.parent, scale, project / "data")
        from pipelines.run import run_pipeline
        from pipelines.core.settings import load_settings

        settings = load_settings(project, env={})
        log(f"scale {scale}: loading raw + staging with Kontor")
        t = time.perf_counter()
        outcome = run_pipeline(settings, ["group:raw", "group:staging"])
        if not outcome.success:
            raise SystemExit(f"raw/staging build failed: {outcome.failures}")
        load_s = time.perf_counter() - t
        shutil.copy(settings.warehouse_path, raw_snap)
        shutil.rmtree(dagster_snap, ignore_errors=True)
        shutil.copytree(settings.dagster_home, dagster_snap)
        # The serving copy the build published (and the record of how, beside it since the serving
        # copy is built on the previous one): a `kontor run` of the entity group starts from it, as
        # a user's run after loading would. A hard link: the same file (inode, size, modification
        # time), which the record names; runs replace target/serving.duckdb by rename and never
        # write this file.
        shutil.rmtree(serving_snap, ignore_errors=True)
        serving_snap.mkdir()
        os.link(settings.serving_path, serving_snap / settings.serving_path.name)
        for record in settings.serving_path.parent.glob(f".{settings.serving_path.name}.manifest.json"):
            shutil.copy(record, serving_snap / record.name)
        meta = {"version": PREP_VERSION, "scale": scale, "seed": SEED, "generate_s": None if gen_s is None else round(gen_s, 1),
                "raw_staging_build_s": round(load_s, 1), "manifest_files": manifest["files"],
                "true_entities": manifest.get("true_entities")}
        meta_path.write_text(json.dumps(meta))
    else:
        log(f"scale {scale}: reusing demo data and raw/staging warehouse from {raw_snap}")
    settings, relations, specs = load_project(project)
    from pipelines.entities.standardise import standardise

    snap = scale_dir / "snapshot.duckdb"
    snap_meta_path = scale_dir / "snapshot.json"
    # the snapshot depends on the standardisation code and the project's models: rebuilt when they change
    inputs = [ROOT / "pipelines" / "entities" / f for f in ("standardise.py", "spec.py")]
    inputs += sorted((ROOT / "pipelines" / "entities" / "sql").glob("*.sql"))
    inputs += sorted((project / "models").rglob("*.*"))
    raw_stat = raw_snap.stat()
    key = hashlib.sha256(b"".join(p.read_bytes() for p in inputs)
                         + f"{raw_stat.st_size}:{raw_stat.st_mtime_ns}".encode()).hexdigest()[:16]
    snap_meta = json.loads(snap_meta_path.read_text()) if snap_meta_path.is_file() else {}
    if snap.is_file() and snap_meta.get("key") == key and not rebuild:
        log(f"scale {scale}: reusing {snap} (same code and models)")
    else:
        for p in (snap, Path(str(snap) + ".wal")):
            p.unlink(missing_ok=True)
        shutil.copy(raw_snap, snap)
        con = connect(snap, scale_dir / "duckdb_tmp" / "prepare")
        t = time.perf_counter()
        for name, spec in specs.items():
            standardise(con, spec, relations)
        con.execute("drop table if exists entities._id_checks")
        con.execute("checkpoint")
        con.close()
        snap_meta = {"key": key, "standardise_s": round(time.perf_counter() - t, 1)}
        snap_meta_path.write_text(json.dumps(snap_meta))
        log(f"scale {scale}: standardised snapshot in {snap_meta['standardise_s']:.0f}s")
    import duckdb

    con = duckdb.connect(str(snap), read_only=True)
    std_rows = {name: con.execute(f"select count(*) from {spec.table('standardised')}").fetchall()[0][0]
                for name, spec in specs.items()}
    by_system = {name: dict(con.execute(f"select source_system, count(*) from {spec.table('standardised')} "
                                        "group by 1 order by 1").fetchall()) for name, spec in specs.items()}
    no_name = {name: con.execute(f"select count(*) from {spec.table('standardised')} where name_key is null").fetchall()[0][0]
               for name, spec in specs.items()}
    con.close()
    bare_settings = {name: {"table": spec.table("standardised"), "systems": spec.systems,
                            "splink": spec.splink, "training": spec.training, "thresholds": spec.thresholds}
                     for name, spec in specs.items()}
    (scale_dir / "bare_settings.json").write_text(json.dumps(bare_settings, indent=1, default=str))
    files = meta["manifest_files"]
    source_records = {e: {f: files[f]["rows"] for f in fs} for e, fs in MASTER_FILES.items()}
    return {"project": project, "snapshot": snap, "dagster_snapshot": dagster_snap, "specs": specs,
            "serving_snapshot": serving_snap,
            "settings": settings,
            "info": {"scale": scale, "seed": SEED,
                     "source_records": sum(sum(v.values()) for v in source_records.values()),
                     "source_records_by_file": source_records,
                     "ground_truth_records": files["ground_truth/entities.csv"]["rows"],
                     "true_entities": meta.get("true_entities"),
                     "standardised_records": std_rows, "standardised_by_system": by_system,
                     "records_without_name_key": no_name,
                     "generate_s": meta.get("generate_s"), "raw_staging_build_s": meta.get("raw_staging_build_s"),
                     "warehouse_snapshot_mb": round(snap.stat().st_size / 2**20, 1)}}


def fresh_copy(snapshot: Path, target: Path) -> None:
    for suffix in ("", ".wal"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(snapshot, target)
    os.sync()   # the copy's dirty pages must not be written back inside the timed run


# --------------------------------------------------------------------------------------------
# Children (one measurement each)
# --------------------------------------------------------------------------------------------

def child_kontor(args) -> dict:
    """The entity stage through the engine functions, both entities, connect to close."""
    from pipelines.engines.engine import DuckDBEngine
    from pipelines.entities import stage

    project = Path(args.project)
    code = code_fingerprint(project)
    settings, relations, specs = load_project(project)
    rss_before = _rss_mb()
    steps = Steps()
    counts: dict = {}
    cpu0 = _cpu_s()
    started = time.perf_counter()
    con = steps.run("connect", connect, settings.warehouse_path, Path(args.tmp_dir))
    splink = DuckDBEngine(con).splink()
    for name, spec in specs.items():
        explain_dir = settings.target_dir / "splink" / name if args.explain else None
        steps.run("standardise", stage.standardise, con, spec, relations)
        trained = steps.run("train", stage.train, con, spec, splink, settings.target_dir / "splink" / name)
        steps.run("predict", stage.score, con, spec, splink, trained.model, explain_dir=explain_dir)
        clusters = steps.run("cluster", stage.cluster, con, spec, splink)
        resolved = steps.run("resolve", stage.resolve, con, spec, splink, "benchmark", clusters=clusters)
        if explain_dir is not None:      # the cluster studio on the resolved clusters, as the resolve asset
            steps.run("studio", stage.studio, con, spec, splink, explain_dir)
        steps.run("sync", stage.sync, con, spec, settings.target_dir / "sync" / name)
        counts[name] = {"trained": trained.trained_now, "training_s": trained.training_log.get("seconds"),
                        "lambda": trained.training_log.get("probability_two_random_records_match"),
                        "golden": resolved.golden, "multi_member_clusters": resolved.multi_member}
    return _close_and_report(con, steps, started, cpu0, rss_before, counts=counts, code=code)


def child_bare(args) -> dict:
    """A plain Splink 5 script: only duckdb and splink, settings from Kontor's entity specs."""
    import logging

    import duckdb
    from splink import DuckDBAPI, Linker

    settings = json.loads(Path(args.bare_settings).read_text())
    rss_before = _rss_mb()
    steps = Steps()
    out: dict = {}
    cpu0 = _cpu_s()
    started = time.perf_counter()
    con = steps.run("connect", duckdb.connect, args.db)
    con.execute(f"set temp_directory = '{args.tmp_dir}'")
    for name, s in settings.items():
        t, th = s["training"], s["thresholds"]

        def make_linker():
            views = []
            for system in s["systems"]:
                view = f"bare_in_{name}_{system}"
                con.execute(f"create or replace temp view {view} as select * from {s['table']} "
                            f"where source_system = '{system}' and name_key is not null")
                views.append(view)
            db_api = DuckDBAPI(connection=con)
            sdfs = [db_api.register(v, dataset_display_name=system) for v, system in zip(views, s["systems"])]
            return Linker(sdfs, s["splink"], log_level=logging.ERROR)

        def train(linker):
            if t["deterministic_rules"]:
                linker.training.estimate_probability_two_random_records_match(t["deterministic_rules"], recall=t["recall"])
            linker.training.estimate_u_using_random_sampling(max_pairs=t["u_max_pairs"], seed=t["seed"])
            for rule in t["em_blocking_rules"]:
                linker.training.estimate_parameters_using_expectation_maximisation(rule, max_pairs=t["em_max_pairs"])

        linker = steps.run("linker", make_linker)
        steps.run("train", train, linker)
        pred = steps.run("predict", linker.inference.predict, threshold_match_probability=th["review_probability"])
        clusters = steps.run("cluster", linker.clustering.cluster_pairwise_predictions_at_threshold, pred,
                             threshold_match_probability=th["match_probability"])
        out[name] = {"predictions": pred.physical_name, "clusters": clusters.physical_name,
                     "lambda": linker.misc.save_model_to_json()["probability_two_random_records_match"]}
    return _close_and_report(con, steps, started, cpu0, rss_before, tables=out)


class _TimedConnection:
    """Stands in for the DuckDB connection inside ``standardise`` and times every statement, named
    by the table it creates (statements are rendered by sqlglot: upper case, maybe quoted, maybe
    after a comment)."""

    CREATED = re.compile(r'create\s+or\s+replace\s+(?:temp\s+|temporary\s+)?table\s+((?:"?\w+"?\.)?"?\w+"?)', re.I)
    TABLES = {"_std_raw": "_std_raw: union of the staging models (staging views run here)",
              "_std_names": "_std_names: legal-form split and name keys",
              "_std": "_std: keys (street, city, phone, e-mail)",
              "_lf_lookup": "legal-form lookup table (create)", "_city_alias": "city alias table (create)"}

    def __init__(self, con, seconds: dict):
        self._con, self.seconds = con, seconds

    def _label(self, sql: str) -> str:
        if "_id_checks c on" in sql:
            return "id checks: distinct new IBANs / VAT IDs (SQL)"
        created = self.CREATED.search(sql)
        if created:
            table = created.group(1).replace('"', "")
            if table.endswith("_standardised"):
                return "final table with id-check join"
            return self.TABLES.get(table, "create " + table)
        return "other: " + " ".join(sql.split())[:50]

    def _timed(self, fn, sql, *a):
        started = time.perf_counter()
        try:
            return fn(sql, *a)
        finally:
            label = self._label(sql)
            self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - started

    def execute(self, sql, *a):
        self._timed(self._con.execute, sql, *a)
        return self

    def executemany(self, sql, *a):
        self._timed(self._con.executemany, sql, *a)
        return self

    def __getattr__(self, name):
        return getattr(self._con, name)


def child_standardise_profile(args) -> dict:
    """``standardise`` for both entities, statement by statement; the Python validation (schwifty,
    python-stdnum) runs on a thread beside the SQL and is reported as its own sum."""
    from pipelines.entities import id_checks
    from pipelines.entities import standardise as std_module

    settings, relations, specs = load_project(Path(args.project))
    con = connect(settings.warehouse_path, Path(args.tmp_dir))
    seconds: dict[str, float] = {}
    timed = _TimedConnection(con, seconds)
    original = id_checks.check_value
    counts = {}
    label = "id checks: Python validation on a thread, beside the SQL (schwifty IBAN, stdnum VAT)"

    def check_value(kind, value):
        started = time.perf_counter()
        try:
            return original(kind, value)
        finally:
            seconds[label] = seconds.get(label, 0.0) + time.perf_counter() - started

    id_checks.check_value = check_value      # what id_checks.checker calls, on DuckDB in this process
    started = time.perf_counter()
    for name, spec in specs.items():
        counts[name] = std_module.standardise(timed, spec, relations)
    total = time.perf_counter() - started
    validated = con.execute("select kind, count(*) from entities._id_checks group by 1 order by 1").fetchall()
    con.close()
    return {"total_s": total,
            "records": counts, "distinct_values_validated": dict(validated),
            "seconds": dict(sorted(seconds.items(), key=lambda kv: -kv[1])), "peak_rss_mb": _rss_mb()}


def _time_serving_step() -> dict:
    """CPU seconds (this process's, DuckDB's threads included) of the serving step's two parts,
    filled in while the run goes: the comments (``apply_comments``) and the copy (``publish``, or
    ``publish_serving`` in code before the copy was built on the previous one)."""
    import assets.serving as serving_asset

    spent = {"comments": 0.0, "copy": 0.0}

    def timed(part, fn):
        def wrapper(*a, **kw):
            c0 = _cpu_s()
            try:
                return fn(*a, **kw)
            finally:
                spent[part] += _cpu_s() - c0
        return wrapper

    serving_asset.apply_comments = timed("comments", serving_asset.apply_comments)
    name = "publish" if hasattr(serving_asset, "publish") else "publish_serving"
    setattr(serving_asset, name, timed("copy", getattr(serving_asset, name)))
    return spent


def child_dagster(args) -> dict:
    """``run_pipeline(settings, ['group:entities'])``, as ``kontor run --select group:entities``."""
    from pipelines.run import instance_for, run_pipeline
    from pipelines.core.settings import load_settings

    project = Path(args.project)
    code = code_fingerprint(project)
    settings = load_settings(project, env={})
    serving_cpu = _time_serving_step()
    rss_before = _rss_mb()
    cpu0 = _cpu_s()
    started = time.perf_counter()
    outcome = run_pipeline(settings, ["group:entities"])
    elapsed = time.perf_counter() - started
    cpu = _cpu_s() - cpu0
    peak = _rss_mb()
    if not outcome.success:
        raise SystemExit(f"dagster run failed: {outcome.failures}")
    from dagster import DagsterEventType

    instance = instance_for(settings)
    try:
        events = [e for e in instance.all_logs(outcome.run_id) if e.dagster_event is not None]
    finally:
        instance.dispose()
    starts, steps, serving = {}, {}, {}
    for e in events:
        et = e.dagster_event.event_type
        if et == DagsterEventType.ASSET_MATERIALIZATION and "serving" in (e.step_key or ""):
            serving = {k: v.value for k, v in e.asset_materialization.metadata.items()
                       if k in ("incremental", "tables", "tables_copied", "tables_kept", "whole_copy_because", "size_bytes")}
        if et == DagsterEventType.STEP_START:
            starts[e.step_key] = e.timestamp
        elif et in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE) and e.step_key in starts:
            steps[e.step_key] = e.timestamp - starts[e.step_key]
    return {"elapsed_s": elapsed, "cpu_s": cpu, "peak_rss_mb": peak, "rss_before_mb": rss_before, "step_s": steps,
            "serving_step_s": sum(v for k, v in steps.items() if "serving" in k),
            "serving_cpu_s": serving_cpu, "serving": serving,
            "materialized": len(outcome.materialized), "code": code, "loadavg": os.getloadavg()}


# --------------------------------------------------------------------------------------------
# Parent: run, evaluate, summarise
# --------------------------------------------------------------------------------------------

def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KONTOR_", "DAGSTER_"))}
    env["PYTHONPATH"] = str(ROOT)
    return env


def run_child(kind: str, prep: dict, scale_dir: Path, tag: str) -> dict:
    project, settings = prep["project"], prep["settings"]
    target = settings.target_dir
    for sub in ("splink", "sync", "tmp"):
        shutil.rmtree(target / sub, ignore_errors=True)
    # the steward state store (SQLite under state/): no decisions and no audit trail, every run alike
    shutil.rmtree(project / "state", ignore_errors=True)
    serving_files = [settings.serving_path, settings.serving_path.with_name(f".{settings.serving_path.name}.manifest.json")]
    for p in (*serving_files, Path(str(settings.warehouse_path) + ".tmp")):
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    tmp_dir = scale_dir / "duckdb_tmp" / f"{kind}_{tag}"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(parents=True)
    child = {"kontor_html": "kontor"}.get(kind, kind)
    cmd = [str(PY), str(Path(__file__).resolve()), "--child", child, "--project", str(project), "--tmp-dir", str(tmp_dir)]
    if kind == "kontor_html":
        cmd.append("--explain")
    if kind == "bare":
        db = scale_dir / "bare.duckdb"
        fresh_copy(prep["snapshot"], db)
        cmd += ["--db", str(db), "--bare-settings", str(scale_dir / "bare_settings.json")]
    else:
        fresh_copy(prep["snapshot"], settings.warehouse_path)
        if kind == "dagster":
            home = settings.dagster_home
            shutil.rmtree(home, ignore_errors=True)
            shutil.copytree(prep["dagster_snapshot"], home)
            # the serving copy the raw/staging build left (and its record), as a user's run finds it
            for p in serving_files:
                kept = prep["serving_snapshot"] / p.name
                if kept.is_file():
                    os.link(kept, p) if p == settings.serving_path else shutil.copy(kept, p)
            os.sync()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=str(scale_dir), env=_env())
    if done.returncode != 0:
        raise SystemExit(f"{kind} child failed ({done.returncode}):\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    tmp_used = sum(f.stat().st_size for f in tmp_dir.rglob("*") if f.is_file())
    shutil.rmtree(tmp_dir, ignore_errors=True)
    result["spill_dir_left_mb"] = round(tmp_used / 2**20, 1)
    return result


def evaluate_kontor(prep: dict) -> dict:
    """Kontor's own accuracy figures on the warehouse the last Kontor measurement left."""
    from pipelines.entities.evaluate import evaluate

    settings = prep["settings"]
    con = connect(settings.warehouse_path, settings.target_dir / "tmp")
    try:
        out = {}
        for name, spec in prep["specs"].items():
            acc = evaluate(con, spec, settings.data_dir) or {}
            acc["pairs_scored"] = con.execute(f"select count(*) from {spec.table('pairs')}").fetchall()[0][0]
            acc["pairs_at_match_threshold"] = con.execute(
                f"select count(*) from {spec.table('pairs')} where match_probability >= "
                f"{spec.thresholds['match_probability']}").fetchall()[0][0]
            acc["clusters"] = con.execute(f"select count(distinct golden_id) from {spec.table('clusters')}").fetchall()[0][0]
            out[name] = acc
        out["standardised_identical_to_snapshot"] = _same_standardised(con, prep)
        return out
    finally:
        con.close()


def _same_standardised(con, prep: dict) -> bool:
    """Did this run's standardise produce exactly the table the bare script read?"""
    snap = str(prep["snapshot"]).replace("'", "''")
    con.execute(f"attach '{snap}' as snap (read_only)")
    try:
        for spec in prep["specs"].values():
            t = spec.table("standardised")
            diff = con.execute(f"select count(*) from ((select * from {t} except all select * from snap.{t}) "
                               f"union all (select * from snap.{t} except all select * from {t}))").fetchall()[0][0]
            if diff:
                return False
        return True
    finally:
        con.execute("detach snap")


def evaluate_bare(prep: dict, scale_dir: Path, tables: dict) -> dict:
    """The same ``evaluate`` on bare Splink's clusters (cluster_id as golden id)."""
    from pipelines.entities.evaluate import evaluate

    con = connect(scale_dir / "bare.duckdb", scale_dir / "duckdb_tmp" / "evaluate")
    try:
        out = {}
        for name, spec in prep["specs"].items():
            t = tables[name]
            con.execute(f"create or replace table {spec.table('clusters')} as "
                        f"select unique_id, cast(cluster_id as varchar) as golden_id from {t['clusters']}")
            gt = {k: v for k, v in spec.ground_truth.items() if k in ("entities", "hard_negatives")}
            acc = evaluate(con, dataclasses.replace(spec, ground_truth=gt), prep["settings"].data_dir) or {}
            acc["pairs_scored"] = con.execute(f"select count(*) from {t['predictions']}").fetchall()[0][0]
            acc["pairs_at_match_threshold"] = con.execute(
                f"select count(*) from {t['predictions']} where match_probability >= "
                f"{spec.thresholds['match_probability']}").fetchall()[0][0]
            acc["clusters_of_matched_records"] = con.execute(
                f"select count(distinct golden_id) from {spec.table('clusters')}").fetchall()[0][0]
            out[name] = acc
        return out
    finally:
        con.close()


def med(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def summarise(runs: list[dict]) -> dict:
    times = [r["elapsed_s"] for r in runs]
    out = {"median_s": med(times), "min_s": round(min(times), 3), "all_s": [round(t, 3) for t in times],
           "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
           "rss_after_imports_mb": round(max(r["rss_before_mb"] for r in runs), 1),
           "loadavg_at_start": [round(r["loadavg"][0], 2) for r in runs]}
    if all("cpu_s" in r for r in runs):
        out["cpu_median_s"] = med([r["cpu_s"] for r in runs])
        out["cpu_all_s"] = [round(r["cpu_s"], 1) for r in runs]
    if "before_close_s" in runs[0]:
        out["before_close_median_s"] = med([r["before_close_s"] for r in runs])
        out["peak_rss_before_close_mb"] = round(max(r["peak_rss_before_close_mb"] for r in runs), 1)
    if "steps" in runs[0]:
        names = list(runs[0]["steps"])
        out["steps_median_s"] = {k: med([r["steps"].get(k, 0.0) for r in runs]) for k in names}
        out["steps_cpu_median_s"] = {k: med([r["steps_cpu"].get(k, 0.0) for r in runs]) for k in names}
        out["peak_rss_growth_mb_last_run"] = runs[-1]["rss_growth_mb"]
    if "step_s" in runs[0]:
        names = list(runs[0]["step_s"])
        out["dagster_steps_median_s"] = {k: med([r["step_s"].get(k, 0.0) for r in runs]) for k in names}
        out["serving_step_median_s"] = med([r["serving_step_s"] for r in runs])
        if all("serving_cpu_s" in r for r in runs):
            out["serving_cpu_median_s"] = {part: med([r["serving_cpu_s"][part] for r in runs])
                                           for part in runs[0]["serving_cpu_s"]}
            out["serving_cpu_all_s"] = [{k: round(v, 2) for k, v in r["serving_cpu_s"].items()} for r in runs]
            out["serving_last_run"] = runs[-1].get("serving")
        out["without_serving_median_s"] = med([r["elapsed_s"] - r["serving_step_s"] for r in runs])
    out["spill_dir_left_mb_max"] = max(r.get("spill_dir_left_mb", 0.0) for r in runs)
    return out


def f1_pair(acc: dict) -> dict:
    return {e: {k: acc[e].get(k) for k in ("precision", "recall", "f1", "hard_negatives_merged", "pairs_scored",
                                           "pairs_at_match_threshold")}
            for e in acc if isinstance(acc[e], dict)}


def machine() -> dict:
    import duckdb
    import splink

    def first(path: str, prefix: str) -> str:
        try:
            return next((ln.split(":", 1)[1].strip() for ln in Path(path).read_text().splitlines()
                         if ln.startswith(prefix)), "")
        except OSError:
            return ""
    return {"cpu_count": os.cpu_count(), "cpu": first("/proc/cpuinfo", "model name"),
            "memory": first("/proc/meminfo", "MemTotal"), "python": platform.python_version(),
            "platform": platform.platform(), "duckdb": duckdb.__version__, "splink": splink.__version__,
            "duckdb_threads": duckdb.connect().execute("select current_setting('threads')").fetchone()[0],
            "duckdb_memory_limit": duckdb.connect().execute("select current_setting('memory_limit')").fetchone()[0]}


def measure_scale(scale: float, repeats: int, variants: list[str], workdir: Path, rebuild: bool,
                  profile: bool, once: set[str] = frozenset()) -> dict:
    scale_dir = workdir / f"scale_{scale:g}"
    scale_dir.mkdir(parents=True, exist_ok=True)
    prep = prepare(scale_dir, scale, rebuild)
    info = prep["info"]
    log(f"scale {scale}: {info['source_records']:,} source records; loadavg {os.getloadavg()}")
    load_before = os.getloadavg()
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    accuracy: dict = {}
    for rep in range(repeats):
        order = variants[rep % len(variants):] + variants[:rep % len(variants)]
        for kind in order:
            if rep > 0 and kind in once:
                continue
            r = run_child(kind, prep, scale_dir, str(rep))
            runs[kind].append(r)
            extra = ""
            if kind in ("kontor", "kontor_html", "dagster"):
                acc = evaluate_kontor(prep)
                r["accuracy"] = f1_pair(acc)
                r["standardised_identical"] = acc["standardised_identical_to_snapshot"]
                accuracy.setdefault(kind, acc)
                extra = "F1 " + " ".join(f"{e}={v['f1']}" for e, v in r["accuracy"].items())
            elif kind == "bare":
                acc = evaluate_bare(prep, scale_dir, r["tables"])
                r["accuracy"] = f1_pair(acc)
                accuracy.setdefault(kind, acc)
                extra = "F1 " + " ".join(f"{e}={v['f1']}" for e, v in r["accuracy"].items())
            with open(scale_dir / "runs.jsonl", "a") as fh:      # survives an interrupted run
                fh.write(json.dumps({"kind": kind, "repeat": rep, "at": time.time(), **r}, default=str) + "\n")
            log(f"scale {scale} repeat {rep + 1}/{repeats} {kind:11s} {r['elapsed_s']:8.2f}s  "
                f"rss {r['peak_rss_mb']:6.0f} MB  load {r['loadavg'][0]:.2f}  {extra}")
    out: dict = {**info, "repeats": repeats, "measured_once": sorted(once), "loadavg_before_after": [round(x, 2) for x in (*load_before, *os.getloadavg())]}
    for kind in variants:
        out[kind] = summarise(runs[kind])
        if kind in accuracy:
            out[kind]["accuracy"] = accuracy[kind]
            out[kind]["accuracy_every_repeat_same"] = all(r["accuracy"] == runs[kind][0]["accuracy"] for r in runs[kind])
        if kind in ("kontor", "kontor_html", "dagster"):
            out[kind]["standardised_identical_to_bare_input"] = all(r["standardised_identical"] for r in runs[kind])
        if kind in ("kontor", "kontor_html"):
            out[kind]["per_entity_last_run"] = runs[kind][-1]["counts"]
        if kind == "bare":
            out[kind]["lambda_last_run"] = {e: t["lambda"] for e, t in runs[kind][-1]["tables"].items()}
    codes = [r["code"] for k in runs for r in runs[k] if "code" in r]
    out["code_same_in_every_run"] = all(c == codes[0] for c in codes) if codes else None
    out["code_files_changed_between_runs"] = sorted({f for c in codes for f in set(c) | set(codes[0])
                                                     if c.get(f) != codes[0].get(f)})
    if "bare" in out:
        bare = out["bare"]["median_s"]
        for kind in ("kontor", "kontor_html", "dagster"):
            if kind in out:
                out[f"ratio_{kind}_to_bare"] = round(out[kind]["median_s"] / bare, 3)
                if "cpu_median_s" in out[kind] and "cpu_median_s" in out["bare"]:
                    out[f"cpu_ratio_{kind}_to_bare"] = round(out[kind]["cpu_median_s"] / out["bare"]["cpu_median_s"], 3)
        if "dagster" in out:
            out["ratio_dagster_without_serving_to_bare"] = round(out["dagster"]["without_serving_median_s"] / bare, 3)
        if "kontor" in out:
            # Kontor's steps that bare Splink also does, against bare's own total
            k = out["kontor"]["steps_median_s"]
            out["ratio_kontor_matching_only_to_bare"] = round(
                (k.get("train", 0) + k.get("predict", 0) + k.get("cluster", 0)) /
                (bare - out["bare"]["steps_median_s"].get("close", 0) - out["bare"]["steps_median_s"].get("connect", 0)), 3)
        if "kontor" in out and "accuracy" in out["kontor"] and "accuracy" in out["bare"]:
            out["f1_difference_kontor_minus_bare"] = {
                e: round(out["kontor"]["accuracy"][e]["f1"] - out["bare"]["accuracy"][e]["f1"], 4)
                for e in prep["specs"]}
    met = {}
    if "ratio_kontor_to_bare" in out:
        met["ratio_kontor_to_bare"] = out["ratio_kontor_to_bare"] <= TARGETS["ratio_kontor_to_bare"]
    if "ratio_dagster_to_bare" in out:
        # wall time and CPU seconds (on a shared machine the CPU ratio is the steadier figure)
        for size, applies in (("10k", 8_000 <= info["source_records"] <= 12_000), ("1m", info["source_records"] >= 900_000)):
            if applies:
                target = TARGETS[f"ratio_dagster_to_bare_at_{size}"]
                met[f"ratio_dagster_to_bare_at_{size}"] = out["ratio_dagster_to_bare"] <= target
                if "cpu_ratio_dagster_to_bare" in out:
                    met[f"cpu_ratio_dagster_to_bare_at_{size}"] = out["cpu_ratio_dagster_to_bare"] <= target
    if "f1_difference_kontor_minus_bare" in out:
        met["same_f1"] = all(abs(v) <= TARGETS["f1_difference"] for v in out["f1_difference_kontor_minus_bare"].values())
    if info["source_records"] >= 900_000:
        met["peak_rss_mb_at_1m"] = all(out[k]["peak_rss_mb"] < TARGETS["peak_rss_mb_at_1m"]
                                       for k in ("kontor", "kontor_html", "dagster") if k in out)
    out["met"] = met
    if profile or not all(met.values()):
        log(f"scale {scale}: profiling standardise statement by statement")
        p = run_child("standardise_profile", prep, scale_dir, "profile")
        out["standardise_profile"] = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in p.items()}
        out["standardise_profile"]["seconds"] = {k: round(v, 3) for k, v in p["seconds"].items()}
        log(f"scale {scale}: standardise_profile {p['total_s']:.1f}s")
    return out


def checked_workdir_and_repeats(ap: argparse.ArgumentParser, args) -> tuple[Path, list[int]]:
    """``--workdir`` (outside the repository, created) and the repeats per scale; bad ones end the
    program with argparse's usage error. Shared with ``spark_vs_duckdb.py``."""
    workdir = args.workdir.resolve()
    if workdir == ROOT or ROOT in workdir.parents:
        ap.error(f"--workdir must be outside the repository ({ROOT})")
    repeats = args.repeats * len(args.scales) if len(args.repeats) == 1 else args.repeats
    if len(repeats) != len(args.scales) or min(repeats) < 1 or min(args.scales) <= 0:
        ap.error("--repeats: one positive value, or one per scale; --scales positive")
    workdir.mkdir(parents=True, exist_ok=True)
    return workdir, repeats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", type=float, nargs="+", default=[21.0, 210.0],
                    help="demo scales; scale 1 gives 4,763 customer + supplier source records")
    ap.add_argument("--repeats", type=int, nargs="+", default=[3, 2],
                    help="repeats per scale (one value for all, or one per scale)")
    ap.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS), choices=VARIANTS)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "kontor-bench-entities")
    ap.add_argument("--once", nargs="*", default=[], choices=VARIANTS,
                    help="variants measured in the first repeat only, at the largest scale")
    ap.add_argument("--prepare-only", action="store_true", help="build the data and snapshots, measure nothing")
    ap.add_argument("--rebuild", action="store_true", help="regenerate the demo data and the raw/staging warehouse")
    ap.add_argument("--profile", action="store_true",
                    help="add a statement-by-statement profile of standardise (automatic when a target is missed)")
    ap.add_argument("--child", choices=["kontor", "bare", "dagster", "standardise_profile"], help=argparse.SUPPRESS)
    ap.add_argument("--project", help=argparse.SUPPRESS)
    ap.add_argument("--tmp-dir", help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--bare-settings", help=argparse.SUPPRESS)
    ap.add_argument("--explain", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        fn = {"kontor": child_kontor, "bare": child_bare, "dagster": child_dagster,
              "standardise_profile": child_standardise_profile}[args.child]
        print(json.dumps(fn(args)))
        return 0

    workdir, repeats = checked_workdir_and_repeats(ap, args)
    variants = [v for v in VARIANTS if v in args.variants]
    code_before = code_fingerprint()
    started = time.perf_counter()
    results = {}
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    if args.prepare_only:
        for scale in args.scales:
            scale_dir = workdir / f"scale_{scale:g}"
            scale_dir.mkdir(parents=True, exist_ok=True)
            print(json.dumps(prepare(scale_dir, scale, args.rebuild)["info"], indent=2))
        return 0
    for scale, n in sorted(zip(args.scales, repeats)):     # the largest scale last
        results[f"{scale:g}"] = measure_scale(scale, n, variants, workdir, args.rebuild, args.profile,
                                               set(args.once) if scale == max(args.scales) else set())
    out = {
        "benchmark": "entities_vs_splink",
        "variants": {
            "kontor": "engine functions of pipelines/entities in a fresh process, both entities, connect to close: "
                      "standardise, ensure_model (trains), predict (explain_dir=None), connected_components, "
                      "resolve, sync_proposals",
            "kontor_html": "as kontor, predict with explain_dir (Splink charts, comparison viewer, cluster studio)",
            "bare": "plain Splink 5 on entities.<e>_standardised of the snapshot, Kontor's settings: train "
                    "(lambda, u, EM), predict at the review threshold, connected components at the match threshold",
            "dagster": "run_pipeline(settings, ['group:entities']) in a fresh process: definitions, the entity "
                       "assets (HTML included; no ground-truth evaluation, as kontor run without --evaluate), "
                       "Dagster event log, serving copy",
        },
        "scales": results,
        "targets": TARGETS,
        "machine": {**machine(), "uptime_before": uptime_before,
                    "uptime_after": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()},
        "total_s": round(time.perf_counter() - started, 1),
        "workdir": str(workdir),
        "code": code_before if code_before == code_fingerprint() else "changed during the run",
        "notes": [
            "times are wall clock inside a fresh subprocess, imports and project compilation excluded "
            "(dagster: run_pipeline call, definitions build included); each run starts from a fresh copy of "
            "the same snapshot (raw + staging + both standardised tables, no IBAN/VAT cache, no trained model)",
            "peak_rss_mb is the child's VmHWM (includes its imports, rss_after_imports_mb); DuckDB's default "
            "memory_limit and threads; temp_directory under the work directory",
            "F1 is pairwise over clusters, computed by pipelines.entities.evaluate.evaluate for both",
        ],
    }
    print(json.dumps(out, indent=2, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
