"""Benchmark: Kontor's entity stage on Spark against a bare Splink-on-Spark script, beside DuckDB (issue 21).

Run:  .venv/bin/python benchmarks/spark_vs_duckdb.py [--scales 21 210] [--repeats 3 2] [--master local[2]]
                                                      [--variants kontor bare kontor_spark bare_spark]
                                                      [--models-scale 1 | --models-json FILE] [--workdir DIR]

Needs the spark extra and Java 17. Prints one JSON object on stdout, also when an optional step (the
models part) fails; progress on stderr. Scale 21 is about 100k source records, 210 about 1M.

The data, the standardised snapshot, the fresh copies, the DuckDB variants ``kontor`` and ``bare``,
the accuracy figures and the summaries are ``benchmarks/entities_vs_splink.py``'s (imported, not
copied). Added here, each in a fresh subprocess on a fresh copy of the snapshot:

- ``kontor_spark``: the entity stage as ``assets/entities.py`` runs it with ``engine = "spark"``:
  ``stage.standardise_on_spark`` and ``stage.score_on_spark`` through the stage's own Spark resource
  (``assets/spark.SparkResource``, whose session is ``start_session(SparkConfig(master, ...))``),
  ``train``, ``cluster``, ``resolve`` and ``sync`` on DuckDB, for both entities.
- ``bare_spark``: a plain Splink 5 script on ``SparkAPI``: the standardised table read from the
  snapshot into Spark (Parquet), one view per system (records with a ``name_key``), the trained
  model JSON (trained once per scale by Kontor's ``stage.train`` on DuckDB, before the
  measurements; ``kontor_spark`` trains the same model in its run, checked), its SQL conditions
  written for Spark as the stage writes them (``pipelines.entities.spark.spark_model``), predict at the review threshold, connected components at
  the match threshold. Splink's settings call ``jaro_winkler_similarity`` and
  ``damerau_levenshtein``: Spark 4's builtin of the first gives other values than DuckDB's and
  Spark has no second, so the script registers Kontor's DuckDB-identical UDFs
  (``pipelines/engines/spark_functions.register``, ``kontor_*`` names: the Java UDFs of Kontor's jar,
  which ``start_session`` gives the session, as the stage gets them) and calls them instead;
  that and the session (``start_session`` with the same ``SparkConfig``) are all it takes from Kontor.

Ratios. ``bare_spark`` does not train (it scores with the trained model), so
``ratio_kontor_spark_to_bare_spark`` leaves ``kontor_spark``'s DuckDB training step out;
``ratio_kontor_spark_total_to_bare_spark`` keeps it. The Spark session start (and stop) is paid by
both and left out of both sides' times: it is reported apart (``session_start_median_s``).
``ratio_kontor_to_bare`` is DuckDB's, as in entities_vs_splink.py. F1 of every variant by
``pipelines.entities.evaluate.evaluate``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import entities_vs_splink as evs  # noqa: E402  (the DuckDB benchmark's helpers and variants)

TARGETS = {"ratio_kontor_spark_to_bare_spark": 1.3}
VARIANTS = ("kontor", "bare", "kontor_spark", "bare_spark")
log = evs.log


# --------------------------------------------------------------------------------------------
# Children
# --------------------------------------------------------------------------------------------

def _spark_config(args):
    from pipelines.engines.spark_session import SparkConfig

    return SparkConfig(master=args.master, driver_memory=args.driver_memory, app_name="kontor-bench",
                       warehouse_dir=str(Path(args.tmp_dir) / "spark_warehouse"))


def _session_settings(session) -> dict:
    """The settings Kontor's session start sets (``spark_session.start_session``) and the ones that
    decide joins, as the running session reports them: both Spark variants show theirs."""
    from pipelines.engines.spark_session import DEFAULT_CONF, LOCAL_CONF

    keys = sorted({*DEFAULT_CONF, *LOCAL_CONF, "spark.master", "spark.driver.memory", "spark.app.name",
                   "spark.sql.autoBroadcastJoinThreshold", "spark.sql.adaptive.enabled"})
    def value(key: str):
        try:
            return session.conf.get(key)      # a SQL setting not set: Spark's default
        except Exception:  # noqa: BLE001 - a core setting not set has no value to show
            return None
    return {k: value(k) for k in keys}


class SparkCpu:
    """CPU seconds of the session's JVM and of its descendants (Spark's Python workers, which run
    Python UDFs), read from /proc: in total since ``start()`` and around the steps passed through
    ``around``. A live process's utime + stime plus its reaped children's: the sum over the tree
    is the tree's CPU."""

    def __init__(self, session) -> None:
        proc = getattr(getattr(session.sparkContext, "_gateway", None), "proc", None)
        self.root = proc.pid if proc is not None else None     # spark-submit execs into the JVM
        self.steps: dict[str, dict[str, float]] = {}
        self.first = self.now()

    def now(self) -> dict[str, float]:
        if self.root is None:
            return {}
        tick = os.sysconf("SC_CLK_TCK")
        parents, cpu = {}, {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            parents[int(entry)] = int(fields[1])
            cpu[int(entry)] = sum(int(x) for x in fields[11:15]) / tick

        def below(pid: int) -> bool:
            while pid > 1:
                pid = parents.get(pid, 0)
                if pid == self.root:
                    return True
            return False
        return {"jvm": cpu.get(self.root, 0.0), "python_workers": sum(c for p, c in cpu.items() if p != self.root and below(p))}

    def since(self, before: dict[str, float]) -> dict[str, float]:
        after = self.now()
        return {k: round(after[k] - before.get(k, 0.0), 2) for k in after}

    def around(self, name: str, fn, *a, **kw):
        before = self.now()
        try:
            return fn(*a, **kw)
        finally:
            for k, v in self.since(before).items():
                self.steps.setdefault(name, {}).setdefault(k, 0.0)
                self.steps[name][k] = round(self.steps[name][k] + v, 2)


def _finish(steps, started: float, cpu0: float, rss_before: float, stop, spark_cpu: SparkCpu, **extra) -> dict:
    """A Spark child's measurements: elapsed_s from after the session start to before its stop."""
    elapsed = time.perf_counter() - started
    cpu = evs._cpu_s() - cpu0
    tree = spark_cpu.since(spark_cpu.first)
    peak = evs._rss_mb()
    steps.run("session_stop", stop)
    return {"elapsed_s": elapsed, "cpu_s_driver": cpu, "cpu_s_jvm": tree.get("jvm"),
            "cpu_s_python_workers": tree.get("python_workers"), "spark_cpu_steps": spark_cpu.steps,
            "peak_rss_mb": peak, "rss_before_mb": rss_before,
            "steps": steps.seconds, "steps_cpu": steps.cpu_seconds, "rss_growth_mb": steps.rss_growth, **extra,
            "loadavg": os.getloadavg()}


def child_kontor_spark(args) -> dict:
    """The entity stage with its Spark steps, both entities."""
    from assets.spark import SparkResource
    from pipelines.engines.engine import DuckDBEngine
    from pipelines.entities import stage

    project = Path(args.project)
    code = evs.code_fingerprint(project)
    settings, relations, specs = evs.load_project(project)
    config = _spark_config(args)
    spark = SparkResource(master=config.master, driver_memory=config.driver_memory, app_name=config.app_name,
                          warehouse_dir=config.warehouse_dir)
    rss_before = evs._rss_mb()
    steps = evs.Steps()
    steps.run("session_start", spark.session)
    session_settings = _session_settings(spark.session())
    tmp_dir = settings.target_dir / "tmp"
    counts: dict = {}
    cpu0 = evs._cpu_s()
    spark_cpu = SparkCpu(spark.session())
    started = time.perf_counter()
    con = steps.run("connect", evs.connect, settings.warehouse_path, Path(args.tmp_dir) / "duckdb")
    splink = DuckDBEngine(con).splink()
    models = {}
    for name, spec in specs.items():
        steps.run("standardise", spark_cpu.around, "standardise", stage.standardise_on_spark, con, spark, spec,
                  relations, tmp_dir)
        trained = steps.run("train", stage.train, con, spec, splink, settings.target_dir / "splink" / name)
        scored = steps.run("predict", spark_cpu.around, "predict", stage.score_on_spark, con, spark, spec, tmp_dir,
                           trained.model)
        clusters = steps.run("cluster", stage.cluster, con, spec, splink)
        resolved = steps.run("resolve", stage.resolve, con, spec, splink, "benchmark", clusters=clusters)
        steps.run("sync", stage.sync, con, spec, settings.target_dir / "sync" / name)
        models[name] = trained.model
        counts[name] = {"trained": trained.trained_now, "pairs": scored.pairs, "matched": scored.matched,
                        "golden": resolved.golden, "multi_member_clusters": resolved.multi_member}
    steps.run("close", con.close)
    compared = None
    if args.models_file:
        reference = json.loads(Path(args.models_file).read_text())
        compared = {n: model_difference(models[n], reference[n]) for n in models}
    from pipelines.engines.spark_functions import register

    return _finish(steps, started, cpu0, rss_before, lambda: spark.teardown_after_execution(None), spark_cpu,
                   session_start_s=steps.seconds["session_start"], counts=counts, code=code,
                   string_functions=register(spark.session()),     # what the stage registered: "java" or "pandas"
                   model_same_as_bare_spark=None if compared is None else all(c["same"] for c in compared.values()),
                   model_difference=compared, spark_settings=session_settings)


MODEL_TOLERANCE = 1e-9      # relative, on the model's floats


def model_difference(model: dict, reference: dict) -> dict:
    """How a trained model differs from the reference: ``same`` when only Splink's ``linker_uid``
    (random per Linker) and float parameters within ``MODEL_TOLERANCE`` differ. Training on DuckDB
    is not bit-reproducible: the EM sums run on DuckDB's threads in varying order, so two trainings
    on the same snapshot differ in the last digits of some m and u probabilities (measured: about
    1e-16 relative, up to 1e-13 on probabilities near 1e-9)."""
    differences: list[str] = []
    largest = 0.0

    def walk(a, b, where: str) -> None:
        nonlocal largest
        if isinstance(a, float) and isinstance(b, float):
            relative = abs(a - b) / max(abs(a), abs(b)) if a != b else 0.0
            largest = max(largest, relative)
            if relative > MODEL_TOLERANCE:
                differences.append(f"{where}: {a!r} vs {b!r}")
        elif isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                if key != "linker_uid":
                    walk(a.get(key), b.get(key), f"{where}.{key}")
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b)):
                walk(x, y, f"{where}[{i}]")
        elif a != b:
            differences.append(f"{where}: {a!r} vs {b!r}"[:300])

    walk(model, reference, "model")
    return {"same": not differences, "max_relative_float_difference": largest, "differences": differences[:10],
            "linker_uid_differs": model.get("linker_uid") != reference.get("linker_uid")}


def child_bare_spark(args) -> dict:
    """Plain Splink 5 on SparkAPI with the trained model JSON: load, predict, cluster."""
    import logging

    import duckdb
    from splink import Linker, SparkAPI

    from pipelines.engines.spark_functions import register
    from pipelines.entities.spark import spark_model
    from pipelines.engines.spark_session import start_session

    settings = json.loads(Path(args.bare_settings).read_text())
    models = json.loads(Path(args.models_file).read_text())
    out_dir = Path(args.out_dir)
    rss_before = evs._rss_mb()
    steps = evs.Steps()
    session = steps.run("session_start", start_session, _spark_config(args))
    session_settings = _session_settings(session)
    parquet = Path(args.tmp_dir) / "parquet"
    parquet.mkdir(parents=True, exist_ok=True)
    cpu0 = evs._cpu_s()
    spark_cpu = SparkCpu(session)
    started = time.perf_counter()
    functions = register(session)
    results = {}
    apis = {}
    for name, s in settings.items():
        th = s["thresholds"]

        def load():
            con = duckdb.connect(args.db, read_only=True)
            path = parquet / f"{name}.parquet"
            con.execute(f"copy (select * from {s['table']}) to '{path}' (format parquet)")
            con.close()
            session.read.parquet(str(path)).createOrReplaceTempView(f"bare_{name}")
            views = []
            for system in s["systems"]:
                view = f"bare_in_{name}_{system}"
                session.sql(f"select * from bare_{name} where source_system = '{system}' "
                            "and name_key is not null").createOrReplaceTempView(view)
                views.append(view)
            return views

        def make_linker(views):
            model = spark_model(models[name])    # its conditions through Kontor's rewrite layer and UDFs
            db_api = SparkAPI(spark_session=session, break_lineage_method="persist", register_udfs_automatically=False)
            apis[name] = db_api
            sdfs = [db_api.register(v, dataset_display_name=system) for v, system in zip(views, s["systems"])]
            return Linker(sdfs, model, log_level=logging.ERROR)

        def materialise(pred):
            # Splink's predictions are a lazily persisted plan; Kontor writes its scored pairs as a
            # Parquet table (stage.score_on_spark) before anything reads them, and so does this script:
            # clustering on the lazy plan was still evaluating the scoring UDFs inside Splink's
            # connected-components job after 16 minutes at scale 0.5 (README, spark_vs_duckdb section)
            path = parquet / f"{name}_predict"
            session.table(pred.physical_name).write.mode("overwrite").parquet(str(path))
            return linker.table_management.register_table_predict(
                apis[name].register(session.read.parquet(str(path)), table_name=f"bare_predict_{name}"))

        log(f"bare_spark {name}: load, linker, predict, cluster")
        views = steps.run("load", load)
        linker = steps.run("linker", make_linker, views)
        pred = steps.run("predict", spark_cpu.around, "predict", linker.inference.predict,
                         threshold_match_probability=th["review_probability"])
        pred = steps.run("predict", spark_cpu.around, "predict", materialise, pred)
        clusters = steps.run("cluster", linker.clustering.cluster_pairwise_predictions_at_threshold, pred,
                             threshold_match_probability=th["match_probability"])
        # Splink's tables are lazy only as far as the break-lineage steps go: count them inside the timing
        rows = steps.run("cluster", lambda: session.table(clusters.physical_name).count())
        results[name] = {"predictions": pred.physical_name, "clusters": clusters.physical_name, "cluster_rows": rows}
    elapsed_end = time.perf_counter()
    # not timed: the outputs written for the parent's evaluation
    for name, r in results.items():
        session.table(r["predictions"]).select("unique_id_l", "unique_id_r", "match_probability") \
            .write.mode("overwrite").parquet(str(out_dir / f"{name}_predictions"))
        session.table(r["clusters"]).select("unique_id", "cluster_id") \
            .write.mode("overwrite").parquet(str(out_dir / f"{name}_clusters"))
    out = _finish(steps, started, cpu0, rss_before, session.stop, spark_cpu, session_start_s=steps.seconds["session_start"],
                  tables=results, spark_settings=session_settings, string_functions=functions)
    out["elapsed_s"] = elapsed_end - started
    return out


# --------------------------------------------------------------------------------------------
# Parent
# --------------------------------------------------------------------------------------------

def train_reference_models(prep: dict, scale_dir: Path) -> Path:
    """Kontor's trained model per entity (``stage.train`` on DuckDB, a copy of the snapshot): the
    model JSON the bare Spark script scores with."""
    from pipelines.engines.engine import DuckDBEngine
    from pipelines.entities import stage

    path = scale_dir / "trained_models.json"
    db = scale_dir / "train.duckdb"
    evs.fresh_copy(prep["snapshot"], db)
    con = evs.connect(db, scale_dir / "duckdb_tmp" / "train")
    try:
        models = {name: stage.train(con, spec, DuckDBEngine(con).splink(), scale_dir / "train_splink" / name).model
                  for name, spec in prep["specs"].items()}
    finally:
        con.close()
    db.unlink(missing_ok=True)
    path.write_text(json.dumps(models))
    return path


def run_spark_child(kind: str, prep: dict, scale_dir: Path, tag: str, args, models_file: Path) -> dict:
    project, settings = prep["project"], prep["settings"]
    for sub in ("splink", "sync", "tmp", "spark"):
        shutil.rmtree(settings.target_dir / sub, ignore_errors=True)
    shutil.rmtree(project / "state", ignore_errors=True)
    tmp_dir = scale_dir / "spark_tmp" / f"{kind}_{tag}"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(parents=True)
    cmd = [str(evs.PY), str(Path(__file__).resolve()), "--child", kind, "--project", str(project),
           "--tmp-dir", str(tmp_dir), "--master", args.master, "--driver-memory", args.driver_memory,
           "--models-file", str(models_file)]
    if kind == "bare_spark":
        db = scale_dir / "bare.duckdb"
        evs.fresh_copy(prep["snapshot"], db)
        cmd += ["--db", str(db), "--bare-settings", str(scale_dir / "bare_settings.json"),
                "--out-dir", str(tmp_dir / "out")]
    else:
        evs.fresh_copy(prep["snapshot"], settings.warehouse_path)
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=str(scale_dir), env=evs._env())
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if not ln.lstrip().startswith(("Suppressed:", "Caused by:", "at "))]
        raise SystemExit(f"{kind} child failed ({done.returncode}):\n" + "\n".join(ln[:300] for ln in lines[-40:]))
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["tmp_dir"] = str(tmp_dir)
    if kind == "kontor_spark":
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return result


def evaluate_bare_spark(prep: dict, scale_dir: Path, result: dict) -> dict:
    """bare_spark's outputs loaded into a copy of the snapshot, then entities_vs_splink's evaluate_bare."""
    out_dir = Path(result["tmp_dir"]) / "out"
    con = evs.connect(scale_dir / "bare.duckdb", scale_dir / "duckdb_tmp" / "evaluate")
    tables = {}
    try:
        for name in prep["specs"]:
            tables[name] = {}
            for part in ("predictions", "clusters"):
                table = f"main.bare_spark_{part}_{name}"
                con.execute(f"create or replace table {table} as select * from read_parquet('{out_dir / (name + '_' + part)}/*.parquet')")
                tables[name][part] = table
    finally:
        con.close()
    acc = evs.evaluate_bare(prep, scale_dir, tables)
    shutil.rmtree(result["tmp_dir"], ignore_errors=True)
    return acc


def _steps_without(summary: dict, *names: str) -> float:
    return summary["median_s"] - sum(summary["steps_median_s"].get(n, 0.0) for n in names)


def measure_scale(scale: float, repeats: int, variants: list[str], workdir: Path, args) -> dict:
    scale_dir = workdir / f"scale_{scale:g}"
    scale_dir.mkdir(parents=True, exist_ok=True)
    prep = evs.prepare(scale_dir, scale, args.rebuild)
    info = prep["info"]
    log(f"scale {scale}: {info['source_records']:,} source records; loadavg {os.getloadavg()}")
    models_file = train_reference_models(prep, scale_dir) if {"kontor_spark", "bare_spark"} & set(variants) else None
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    accuracy: dict = {}
    errors: dict[str, list[str]] = {}
    load_before = os.getloadavg()
    for rep in range(repeats):
        order = variants[rep % len(variants):] + variants[:rep % len(variants)]
        for kind in order:
            try:
                if kind in ("kontor", "bare"):
                    r = evs.run_child(kind, prep, scale_dir, str(rep))
                else:
                    r = run_spark_child(kind, prep, scale_dir, str(rep), args, models_file)
            except (Exception, SystemExit) as exc:     # the other variants are still measured and reported
                errors.setdefault(kind, []).append(f"repeat {rep}: {type(exc).__name__}: {str(exc)[-3000:]}")
                log(f"scale {scale} repeat {rep + 1}/{repeats} {kind}: failed")
                continue
            if kind in ("kontor", "kontor_spark"):
                acc = evs.evaluate_kontor(prep)
                r["standardised_identical"] = acc["standardised_identical_to_snapshot"]
            elif kind == "bare":
                acc = evs.evaluate_bare(prep, scale_dir, r["tables"])
            else:
                acc = evaluate_bare_spark(prep, scale_dir, r)
            r["accuracy"] = evs.f1_pair(acc)
            accuracy.setdefault(kind, acc)
            runs[kind].append(r)
            with open(scale_dir / "spark_runs.jsonl", "a") as fh:
                fh.write(json.dumps({"kind": kind, "repeat": rep, "at": time.time(), **r}, default=str) + "\n")
            log(f"scale {scale} repeat {rep + 1}/{repeats} {kind:12s} {r['elapsed_s']:8.2f}s  rss {r['peak_rss_mb']:6.0f} MB  "
                f"load {r['loadavg'][0]:.2f}  F1 " + " ".join(f"{e}={v['f1']}" for e, v in r["accuracy"].items()))
    out: dict = {**info, "repeats": repeats, "loadavg_before_after": [round(x, 2) for x in (*load_before, *os.getloadavg())]}
    if errors:
        out["errors"] = errors
    for kind in (v for v in variants if runs[v]):
        out[kind] = evs.summarise(runs[kind])
        out[kind]["f1"] = {e: v["f1"] for e, v in runs[kind][0]["accuracy"].items()}
        out[kind]["accuracy"] = accuracy[kind]
        out[kind]["accuracy_every_repeat_same"] = all(r["accuracy"] == runs[kind][0]["accuracy"] for r in runs[kind])
        if kind in ("kontor_spark", "bare_spark"):
            out[kind]["spark_settings"] = runs[kind][-1]["spark_settings"]
            out[kind]["session_start_median_s"] = evs.med([r["session_start_s"] for r in runs[kind]])
            out[kind]["cpu_driver_median_s"] = evs.med([r["cpu_s_driver"] for r in runs[kind]])
            if all(r.get("cpu_s_jvm") is not None for r in runs[kind]):
                out[kind]["cpu_jvm_median_s"] = evs.med([r["cpu_s_jvm"] for r in runs[kind]])
                out[kind]["cpu_python_workers_median_s"] = evs.med([r["cpu_s_python_workers"] for r in runs[kind]])
                out[kind]["spark_cpu_steps_last_run"] = runs[kind][-1]["spark_cpu_steps"]
            out[kind]["string_functions"] = runs[kind][-1].get("string_functions")
        if kind in ("kontor", "kontor_spark"):
            out[kind]["standardised_identical_to_bare_input"] = all(r["standardised_identical"] for r in runs[kind])
        if kind == "kontor_spark":
            out[kind]["model_same_as_bare_spark"] = all(r["model_same_as_bare_spark"] for r in runs[kind])
            out[kind]["model_difference_last_run"] = runs[kind][-1]["model_difference"]
            out[kind]["per_entity_last_run"] = runs[kind][-1]["counts"]
    if "kontor" in out and "bare" in out:
        out["ratio_kontor_to_bare"] = round(out["kontor"]["median_s"] / out["bare"]["median_s"], 3)
    if "kontor_spark" in out and "bare_spark" in out:
        out["spark_settings_same"] = out["kontor_spark"]["spark_settings"] == out["bare_spark"]["spark_settings"]
        bare = out["bare_spark"]["median_s"]
        # median_s already leaves the session start and stop out
        kontor = _steps_without(out["kontor_spark"], "train")
        out["kontor_spark_without_training_median_s"] = round(kontor, 3)
        out["ratio_kontor_spark_to_bare_spark"] = round(kontor / bare, 3)
        out["ratio_kontor_spark_total_to_bare_spark"] = round(out["kontor_spark"]["median_s"] / bare, 3)
        out["f1_difference_kontor_spark_minus_bare_spark"] = {
            e: round(out["kontor_spark"]["f1"][e] - out["bare_spark"]["f1"][e], 4) for e in prep["specs"]}
    if "kontor_spark" in out and "kontor" in out:
        out["ratio_kontor_spark_to_kontor"] = round(out["kontor_spark"]["median_s"] / out["kontor"]["median_s"], 3)
        out["f1_difference_kontor_spark_minus_kontor"] = {
            e: round(out["kontor_spark"]["f1"][e] - out["kontor"]["f1"][e], 4) for e in prep["specs"]}
    out["met"] = {k: out[k] <= v for k, v in TARGETS.items() if k in out}
    return out


def models_part(args) -> dict:
    """The models on Spark and DuckDB: benchmarks/models_spark_vs_duckdb.py's JSON, run or read."""
    try:
        if args.models_json:
            return {"source": str(args.models_json), **json.loads(Path(args.models_json).read_text())}
        cmd = [str(evs.PY), str(ROOT / "benchmarks" / "models_spark_vs_duckdb.py"), "--scale", f"{args.models_scale:g}",
               "--repeats", str(args.models_repeats), "--master", args.master]
        log(f"models: {' '.join(cmd[1:])}")
        done = subprocess.run(cmd, capture_output=True, text=True, env=evs._env())
        if done.returncode != 0:
            return {"command": cmd[1:], "error": f"exit {done.returncode}: {done.stderr[-2000:]}"}
        return {"command": cmd[1:], **json.loads(done.stdout[done.stdout.index("{"):])}
    except Exception as exc:        # an optional part: the entity figures are printed regardless
        return {"error": f"{type(exc).__name__}: {exc}"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", type=float, nargs="+", default=[21.0, 210.0],
                    help="demo scales; 21 is about 100k source records, 210 about 1M")
    ap.add_argument("--repeats", type=int, nargs="+", default=[3, 2], help="one value for all, or one per scale")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="4g", help="the same for both Spark variants")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "kontor-bench-spark")
    ap.add_argument("--rebuild", action="store_true", help="regenerate the demo data and the raw/staging warehouse")
    ap.add_argument("--models-scale", type=float, help="also run benchmarks/models_spark_vs_duckdb.py at this scale")
    ap.add_argument("--models-repeats", type=int, default=3)
    ap.add_argument("--models-json", type=Path, help="include this output of models_spark_vs_duckdb.py instead")
    ap.add_argument("--child", choices=["kontor_spark", "bare_spark"], help=argparse.SUPPRESS)
    for hidden in ("--project", "--tmp-dir", "--db", "--bare-settings", "--models-file", "--out-dir"):
        ap.add_argument(hidden, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        print(json.dumps({"kontor_spark": child_kontor_spark, "bare_spark": child_bare_spark}[args.child](args)))
        return 0

    workdir, repeats = evs.checked_workdir_and_repeats(ap, args)
    variants = [v for v in VARIANTS if v in args.variants]
    started = time.perf_counter()
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    results: dict = {}
    for scale, n in sorted(zip(args.scales, repeats)):
        try:
            results[f"{scale:g}"] = measure_scale(scale, n, variants, workdir, args)
        except (Exception, SystemExit) as exc:      # the JSON is printed with what was measured
            results[f"{scale:g}"] = {"error": f"{type(exc).__name__}: {str(exc)[-3000:]}"}
            log(f"scale {scale}: failed: {exc}")
    out = {
        "benchmark": "spark_vs_duckdb",
        "variants": {
            "kontor": "entities_vs_splink.py's: the entity stage on DuckDB, both entities, connect to close",
            "bare": "entities_vs_splink.py's: plain Splink 5 on DuckDB, Kontor's settings, train + predict + cluster",
            "kontor_spark": "the entity stage with stage.standardise_on_spark and stage.score_on_spark (SparkResource "
                            f"on {args.master}), train/cluster/resolve/sync on DuckDB",
            "bare_spark": "plain Splink 5 on SparkAPI: standardised table loaded from the snapshot (Parquet), Kontor's "
                          "trained model JSON as spark_model writes it for Spark, Kontor's DuckDB-identical jaro_winkler_similarity "
                          "and damerau_levenshtein UDFs (spark_functions.register, as the stage), predict at the review "
                          "threshold, cluster at the match threshold",
        },
        "scales": results,
        "targets": TARGETS,
        "met": {s: r.get("met", {}) for s, r in results.items()},
        "models": models_part(args) if (args.models_scale or args.models_json) else None,
        "machine": {**evs.machine(), "spark_master": args.master, "spark_driver_memory": args.driver_memory,
                    "uptime_before": uptime_before,
                    "uptime_after": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()},
        "total_s": round(time.perf_counter() - started, 1),
        "workdir": str(workdir),
        "notes": [
            "times are wall clock in a fresh subprocess, imports excluded; Spark variants: the session start and "
            "stop excluded from both (session_start_median_s reported apart)",
            "ratio_kontor_spark_to_bare_spark leaves kontor_spark's DuckDB training out (bare_spark scores with the "
            "trained model and does not train); ratio_kontor_spark_total_to_bare_spark keeps it",
            "Spark variants' cpu: the driver process's (cpu_driver_median_s), the session's JVM's (cpu_jvm_median_s) "
            "and its Python workers' (cpu_python_workers_median_s, where Python UDFs run), from /proc over the "
            "timed part; spark_cpu_steps_last_run per step (standardise, predict)",
            "string_functions: how Kontor's jaro/jaro-winkler/damerau-levenshtein ran: 'java' (the jar, "
            "pipelines/engines/spark_jar.py) or 'pandas' (Python workers); both variants register them the same way",
            "F1 is pairwise over clusters, pipelines.entities.evaluate.evaluate for every variant",
            "both Spark variants start their session with Kontor's start_session and the same SparkConfig: "
            "spark_settings per variant, spark_settings_same; bare_spark writes Splink's predictions as Parquet "
            "before clustering, as the stage writes its scored pairs (clustering on Splink's lazily persisted "
            "predictions was still evaluating the scoring UDFs in its job's stage 175 after 16 minutes at scale 0.5; "
            "an earlier run ended there with 'Not enough memory to build and broadcast the table')",
            "model_same_as_bare_spark: kontor_spark's trained model equals the reference but for Splink's "
            "linker_uid (random per Linker) and float parameters within 1e-9 relative (DuckDB's EM sums run on "
            "its threads in varying order: two trainings on one snapshot differ in the last digits); "
            "model_difference_last_run shows the largest relative difference",
        ],
    }
    print(json.dumps(out, indent=2, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
