"""Benchmark: the IBAN/VAT-ID check step on Spark, on the driver (before) against the executors (after).

Run:  PYTHONPATH=. .venv/bin/python benchmarks/spark_id_checks.py [--values 200000] [--repeats 3]
                                                                  [--master local[2]] [--variants driver arrow pandas]

Needs the spark extra and Java 17. Prints one JSON object on stdout; progress on stderr.

The values: ``--values`` distinct raw values, half IBANs (valid German and Austrian ones made by
schwifty, a third of them with a wrong last digit, a fifth written in groups and lower case),
half VAT IDs (German, Austrian and Swiss spellings with random digits: most invalid), seed 7,
written once to a Parquet file as ``_std_raw``'s two columns. Each measurement is a fresh
subprocess with a fresh Spark session (``start_session``, driver 1g): the file is read into
``_std_raw`` on the executors, ``entities._id_checks`` is empty, and the step is timed:

- ``driver``: the code before: the distinct new values fetched to the driver (``SparkConnection``,
  as Arrow), checked there on a thread, inserted as one Arrow table (``mapped._in_this_process``,
  which DuckDB still uses);
- ``arrow``: the code after: ``standardise._start_id_checks`` on a ``SparkConnection``:
  ``mapInArrow`` on the executors, written by Spark (``SparkConnection.insert_mapped``);
- ``pandas``: the same with ``mapInPandas`` (written here only, to choose between the two).

Peak RSS: the driver's Python process and the JVM (in local mode the executors' JVM too), each
``VmHWM`` reset (``/proc/<pid>/clear_refs``) just before the step. The executors' Python workers
are other processes, not counted. Every variant must write the same rows (count, valid count, a
hash over all rows, computed on Spark). Medians over ``--repeats``; the order of the variants
rotates per repeat; the load average is reported with each run (the machine is shared).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("driver", "arrow", "pandas")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make_values(n: int, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from schwifty import IBAN

    rng = random.Random(7)
    ibans: set[str] = set()
    while len(ibans) < n // 2:
        if rng.random() < 0.5:
            value = str(IBAN.generate("DE", bank_code="37040044", account_code=str(rng.randrange(10**9, 10**10))))
        else:
            value = str(IBAN.generate("AT", bank_code="19043", account_code=str(rng.randrange(10**10, 10**11))))
        dice = rng.random()
        if dice < 0.33:
            value = value[:-1] + str((int(value[-1]) + 1) % 10)
        elif dice < 0.53:
            value = " ".join(value[i:i + 4] for i in range(0, len(value), 4)).lower()
        ibans.add(value)
    vats: set[str] = set()
    while len(vats) < n - n // 2:
        vats.add(rng.choice(["DE%09d", "ATU%08d", "CHE-%09d MWST", "CHE%09d TVA"]) % rng.randrange(10**7, 10**9))
    iban_list, vat_list = sorted(ibans), sorted(vats)
    iban_list += [None] * (len(vat_list) - len(iban_list))
    pq.write_table(pa.table({"iban_raw": pa.array(iban_list, pa.string()), "vat_raw": pa.array(vat_list, pa.string())}), path)


# --------------------------------------------------------------------------------------------
# The child: one session, one variant
# --------------------------------------------------------------------------------------------

def _java_pid() -> int | None:
    me = str(os.getpid())
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if fields[1] == me and "java" in stat[:stat.rindex(")")]:
                return int(proc.name)
    return None


def _hwm_mb(pid: int | str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_hwm(pid: int | str) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _pandas_insert(con, table: str, query: str, fn) -> None:
    """``SparkConnection.insert_mapped`` with ``mapInPandas`` in place of ``mapInArrow``."""
    from pyspark import cloudpickle

    from pipelines.engines.engine import _spark_rel
    from pipelines.engines.spark_rules import to_spark

    db, name = table.split(".")
    target = con.spark.table(_spark_rel(db, name))
    cloudpickle.register_pickle_by_value(sys.modules[fn.__module__])
    rows = con.spark.sql(to_spark(query))
    width, names = len(rows.columns), target.columns

    def mapped(frames):
        import pandas as pd

        for frame in frames:
            values = [fn(*row) for row in zip(*(frame[c].tolist() for c in frame.columns[:width]))]
            out = frame.iloc[:, :width].copy()
            out.columns = names[:width]
            for i, column in enumerate(names[width:]):
                out[column] = pd.Series([v[i] for v in values], index=frame.index, dtype=object)
            yield out
    rows.mapInPandas(mapped, target.schema).write.insertInto(_spark_rel(db, name))


def child(args) -> dict:
    from pipelines.core.sql import template
    from pipelines.engines import mapped
    from pipelines.engines.spark_connection import SparkConnection
    from pipelines.engines.spark_session import SparkConfig, start_session
    from pipelines.entities import standardise
    from pipelines.entities.id_checks import checker, id_checks_version

    started = time.perf_counter()
    session = start_session(SparkConfig(master=args.master, driver_memory=args.driver_memory, app_name="kontor-bench-ids",
                                        warehouse_dir=str(Path(args.tmp_dir) / "spark_warehouse")))
    session_s = time.perf_counter() - started
    con = SparkConnection(session)
    session.read.parquet(args.values_file).localCheckpoint().createOrReplaceTempView("_std_raw")
    standardise.ensure_id_checks(con)
    new = template(standardise.__file__, "new_id_checks")
    java = _java_pid()
    load_before = os.getloadavg()[0]
    _reset_hwm("self")
    if java:
        _reset_hwm(java)
    started = time.perf_counter()
    if args.child == "driver":
        mapped._in_this_process(con, "entities._id_checks", new, checker(id_checks_version()))()
    elif args.child == "arrow":
        standardise._start_id_checks(con, new)()
    else:
        _pandas_insert(con, "entities._id_checks", new, checker(id_checks_version()))
    step_s = time.perf_counter() - started
    out = {"variant": args.child, "step_s": round(step_s, 2), "session_start_s": round(session_s, 1),
           "driver_python_peak_rss_mb": round(_hwm_mb("self"), 1),
           "jvm_peak_rss_mb": round(_hwm_mb(java), 1) if java else None,
           "load_1min_before": round(load_before, 2), "load_1min_after": round(os.getloadavg()[0], 2)}
    total, valid, digest = session.sql(
        "select count(*), sum(cast(valid as int)), sum(cast(xxhash64(kind, raw, coalesce(compact, '-'), valid) as decimal(38, 0))) "
        "from entities._id_checks").collect()[0]
    out.update(rows=total, valid=valid, digest=str(digest))
    session.stop()
    return out


# --------------------------------------------------------------------------------------------
# The parent
# --------------------------------------------------------------------------------------------

def run_child(variant: str, args, values_file: Path, workdir: Path) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix=variant + "-", dir=workdir))
    command = [sys.executable, __file__, "--child", variant, "--values-file", str(values_file), "--tmp-dir", str(tmp),
               "--master", args.master, "--driver-memory", args.driver_memory]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--values", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="1g")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "kontor-bench-ids")
    ap.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    ap.add_argument("--values-file", help=argparse.SUPPRESS)
    ap.add_argument("--tmp-dir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    values_file = args.workdir / f"values_{args.values}.parquet"
    if not values_file.exists():
        make_values(args.values, values_file)
    runs: list[dict] = []
    for repeat in range(args.repeats):
        order = args.variants[repeat % len(args.variants):] + args.variants[:repeat % len(args.variants)]
        for variant in order:
            result = run_child(variant, args, values_file, args.workdir)
            log(json.dumps(result))
            runs.append(result)
    summary = {}
    for variant in args.variants:
        mine = [r for r in runs if r["variant"] == variant]
        summary[variant] = {key + "_median": statistics.median(r[key] for r in mine)
                            for key in ("step_s", "driver_python_peak_rss_mb", "jvm_peak_rss_mb", "session_start_s")
                            if all(r.get(key) is not None for r in mine)}
        summary[variant]["step_s_all"] = [r["step_s"] for r in mine]
    digests = {(r["rows"], r["valid"], r["digest"]) for r in runs}
    print(json.dumps({"values": args.values, "master": args.master, "driver_memory": args.driver_memory,
                      "repeats": args.repeats, "same_rows_in_every_run": len(digests) == 1,
                      "rows": runs[0]["rows"], "valid": runs[0]["valid"], "cpus": os.cpu_count(),
                      "summary": summary, "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
