"""``[tool.kontor.spark]``: how Kontor reaches Spark, and the session it starts.

```toml
[tool.kontor]
engine = "spark"            # "duckdb" (default) or "spark"

[tool.kontor.spark]
master = "local[2]"         # classic Spark: local[N] or spark://host:7077 (needs Java 17+)
# remote = "sc://host:15002" # or Spark Connect (no JVM on this machine); KONTOR_SPARK_REMOTE wins
driver_memory = "1g"
conf = {"spark.sql.shuffle.partitions" = "4"}   # any Spark setting
train = false               # true: the entity models are trained on Spark too (default: on DuckDB)
```

Secrets (a Spark Connect token in the URL) come only from the environment: ``KONTOR_SPARK_REMOTE``.
A local master keeps its catalog for the session only (Spark's in-memory catalog): its warehouse
directory, ``<target>/spark/warehouse`` by default, is emptied when a session starts, so no table
directory of an earlier session blocks a new table of the same name.

The session gets the jar of Kontor's string functions (``spark_jar``, built on first use with the
JDK's ``javac``): in ``spark.jars`` (added to any the project sets), or over Spark Connect uploaded
as an artifact of the session; ``spark_functions.register`` registers its classes.
"""
from __future__ import annotations

import logging
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.core.errors import KontorError
from pipelines.core.settings import Settings, tool_table
from pipelines.engines.spark_jar import functions_jar

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

ENGINES = ("duckdb", "spark")
KEYS = ("master", "remote", "app_name", "driver_memory", "warehouse_dir", "conf", "train", "resolve")

# What makes Spark answer as DuckDB does: timestamps without time zone, UTC, ANSI casts and
# overflow errors; no progress bars in a log.
DEFAULT_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.ansi.enabled": "true",
}
# Only for a local master: a small machine, no web UI to serve.
LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "4",
}


@dataclass(frozen=True)
class SparkConfig:
    master: str = "local[2]"
    remote: str | None = None
    app_name: str = "kontor"
    driver_memory: str = "1g"
    warehouse_dir: str | None = None
    conf: dict[str, str] = field(default_factory=dict)
    train: bool = False         # train the entity models on Spark (else on the DuckDB copy)
    resolve: bool = False       # survivorship and the golden records built on Spark (else on DuckDB)

    @property
    def local(self) -> bool:
        return self.remote is None and self.master.startswith("local")


def engine_name(settings: Settings) -> str:
    """``[tool.kontor] engine``: "duckdb" unless the project says "spark" (``KONTOR_ENGINE`` wins)."""
    import tomllib

    pyproject = settings.project_dir / "pyproject.toml"
    value = settings.env.get("KONTOR_ENGINE")
    if value is None and pyproject.is_file():
        value = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {}).get("kontor", {}).get("engine")
    value = str(value or "duckdb")
    if value not in ENGINES:
        from pipelines.core.errors import did_you_mean

        raise KontorError(f"{settings.relative(pyproject)} [tool.kontor]: engine = {value!r} is not an engine"
                          f"{did_you_mean(value, set(ENGINES))}; fix: write \"duckdb\" or \"spark\"")
    return value


def spark_config(settings: Settings) -> SparkConfig:
    """``[tool.kontor.spark]`` checked: unknown keys are refused with a did-you-mean."""
    from pipelines.core.errors import did_you_mean

    table = tool_table(settings, "spark")
    where = f"{settings.relative(settings.project_dir / 'pyproject.toml')} [tool.kontor.spark]"
    for key in table:
        if key not in KEYS:
            raise KontorError(f"{where}: unknown key {key!r}{did_you_mean(key, set(KEYS))}")
    if "remote" in table and "master" in table:
        raise KontorError(f"{where}: both master and remote are set; fix: keep one (remote for Spark Connect)")
    conf = table.get("conf", {})
    if not isinstance(conf, dict):
        raise KontorError(f"{where}: conf must be a table of Spark settings, e.g. conf = {{\"spark.sql.shuffle.partitions\" = \"4\"}}")
    flags = {name: table.get(name, False) for name in ("train", "resolve")}
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise KontorError(f"{where}: {name} = {value!r}; fix: write true or false")
    remote = settings.env.get("KONTOR_SPARK_REMOTE") or table.get("remote")
    warehouse = table.get("warehouse_dir")
    if warehouse is None and not remote:
        warehouse = str(settings.target_dir / "spark" / "warehouse")
    elif warehouse is not None and not Path(warehouse).is_absolute():
        warehouse = str(settings.project_dir / warehouse)
    return SparkConfig(master=str(table.get("master", "local[2]")), remote=str(remote) if remote else None,
                       app_name=str(table.get("app_name", f"kontor {settings.name}")),
                       driver_memory=str(table.get("driver_memory", "1g")), warehouse_dir=warehouse,
                       conf={str(k): str(v) for k, v in conf.items()}, **flags)


def start_session(config: SparkConfig) -> "SparkSession":
    """A Spark session as configured (Spark Connect when ``remote`` is set); a missing pyspark or
    Java is a ``KontorError`` that says how to install it."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise KontorError("engine = \"spark\" needs pyspark; fix: pip install 'kontor[spark]' "
                          "(and Java 17: apt-get install openjdk-17-jre-headless)") from exc
    if config.remote:
        builder = SparkSession.builder.remote(config.remote)
    else:
        if shutil.which("java") is None:
            raise KontorError("a classic Spark session needs Java 17 or later; fix: apt-get install "
                              "openjdk-17-jre-headless (or set remote = \"sc://...\" for Spark Connect)")
        builder = (SparkSession.builder.master(config.master).config("spark.driver.memory", config.driver_memory)
                   .config("spark.ui.showConsoleProgress", "false"))    # a server's setting: not for Connect
        for key, value in LOCAL_CONF.items() if config.local else ():
            builder = builder.config(key, value)
        if config.local:
            # Python UDFs (the ID checks, the string functions without their jar) run in this interpreter;
            # pyspark reads the worker's interpreter from the environment when the context starts
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        if config.warehouse_dir:
            if config.local:
                # Spark's in-memory catalog forgets tables with the session; their directories must go too.
                shutil.rmtree(config.warehouse_dir, ignore_errors=True)
            Path(config.warehouse_dir).mkdir(parents=True, exist_ok=True)
            builder = builder.config("spark.sql.warehouse.dir", str(Path(config.warehouse_dir).resolve()))
    builder = builder.appName(config.app_name)
    conf = {**DEFAULT_CONF, **config.conf}
    jar = functions_jar().path          # Kontor's string functions (spark_jar); None: pandas UDFs instead
    if jar is not None and not config.remote:
        conf["spark.jars"] = ",".join(j for j in (conf.get("spark.jars"), str(jar)) if j)
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    if jar is not None and config.remote:
        _upload(session, jar)
    if not config.remote:
        session.sparkContext.setLogLevel("ERROR")     # Spark's INFO/WARN lines are not the user's to act on
    # pyspark logs every failed query's JVM stack trace as JSON; Kontor reports the error itself.
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
    return session


def _upload(session: "SparkSession", jar: Path) -> None:
    """The jar onto the Spark Connect server's class path for this session. A server that refuses
    it leaves the session without: ``spark_functions.register`` then says so and uses pandas UDFs."""
    try:
        session.addArtifacts(str(jar))
    except Exception as exc:  # noqa: BLE001 - register() reports what it means
        logging.getLogger("kontor.engines").info("Spark Connect: %s not uploaded: %s", jar.name, exc)
