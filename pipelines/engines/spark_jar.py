"""Kontor's string functions as a jar, for Spark: built from the Java sources beside this module.

``pipelines/engines/java/kontor/functions/*.java`` are DuckDB's ``jaro_similarity``,
``jaro_winkler_similarity`` and ``damerau_levenshtein`` as Spark Java UDFs (``UDF2``), ports of
``spark_functions``' Python with the same arithmetic: they run in the JVM, where Splink's comparisons
run, instead of row by row in a Python worker. The jar is built on first use with the JDK's
``javac`` against pyspark's own jars (nothing is downloaded) into a cache directory keyed by the
sources, the Java release and the pyspark version, so a clean checkout needs no build step and a
changed source is rebuilt:

    ~/.cache/kontor/spark/kontor-functions-<key>.jar    ($KONTOR_CACHE_DIR, then $XDG_CACHE_HOME)

``functions_jar()`` is the jar, or ``None`` with the reason (no ``javac``: the JDK's compiler is
``apt-get install openjdk-17-jdk-headless``; pyspark without its jars, as a Spark Connect client-only
install; a failed compile); ``spark_functions.register`` then falls back to its pandas UDFs, which
give the same values, and says so once in the log.
"""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

SOURCES = Path(__file__).parent / "java"
RELEASE = "17"                 # Spark 4 runs on Java 17 and later: bytecode for 17 runs on all of them
# Kontor's name on Spark -> (the Java class, its return type)
CLASSES = {
    "kontor_jaro_similarity": ("kontor.functions.JaroSimilarity", "double"),
    "kontor_jaro_winkler_similarity": ("kontor.functions.JaroWinklerSimilarity", "double"),
    "kontor_damerau_levenshtein": ("kontor.functions.DamerauLevenshtein", "int"),
}


@dataclass(frozen=True)
class Jar:
    path: Path | None
    reason: str = ""           # why there is no jar


def cache_dir() -> Path:
    env = os.environ
    if env.get("KONTOR_CACHE_DIR"):
        return Path(env["KONTOR_CACHE_DIR"]) / "spark"
    return Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kontor" / "spark"


def _sources() -> list[Path]:
    return sorted(SOURCES.rglob("*.java"))


def _classpath() -> str | None:
    """pyspark's jar of ``org.apache.spark.sql.api.java.UDF2`` (spark-sql-api; compiling against it
    alone takes a third of the time of all 280), else all its jars; None without any."""
    try:
        import pyspark
    except ImportError:
        return None
    jars = Path(pyspark.__file__).parent / "jars"
    api = sorted(jars.glob("spark-sql-api_*.jar"))
    if api:
        return os.pathsep.join(map(str, api))
    return str(jars / "*") if any(jars.glob("spark-sql_*.jar")) else None


def _javac() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "javac").is_file():
        return str(Path(home) / "bin" / "javac")
    return shutil.which("javac")


def _key(sources: list[Path]) -> str:
    import pyspark

    digest = hashlib.sha256(f"release {RELEASE}; pyspark {pyspark.__version__}".encode())
    for source in sources:
        digest.update(source.relative_to(SOURCES).as_posix().encode() + b"\0" + source.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@functools.cache
def functions_jar() -> Jar:
    """The jar of Kontor's Spark functions, built if the cache has none for these sources (once per
    process: a failure is not retried)."""
    sources = _sources()
    if not sources:
        return Jar(None, f"no Java sources under {SOURCES}")
    classpath = _classpath()
    if classpath is None:
        return Jar(None, "pyspark has no Spark jars to compile against (a Spark Connect client-only install?)")
    path = cache_dir() / f"kontor-functions-{_key(sources)}.jar"
    if path.is_file():
        return Jar(path)
    javac = _javac()
    if javac is None:
        return Jar(None, "no javac (the JDK's compiler) to build them; fix: apt-get install openjdk-17-jdk-headless")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".build-") as tmp:
        classes = Path(tmp) / "classes"
        done = subprocess.run([javac, "--release", RELEASE, "-encoding", "UTF-8", "-nowarn", "-cp", classpath,
                               "-d", str(classes), *map(str, sources)], capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            return Jar(None, f"javac failed ({done.returncode}): {(done.stderr or done.stdout)[-1500:]}")
        built = Path(tmp) / path.name
        _write_jar(classes, built)
        os.replace(built, path)       # atomic: a process building the same jar beside this one loses nothing
    return Jar(path)


def _write_jar(classes: Path, jar: Path) -> None:
    """A jar is a zip with a manifest; fixed timestamps make the same classes the same bytes."""
    with zipfile.ZipFile(jar, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("META-INF/MANIFEST.MF", (1980, 1, 1, 0, 0, 0)),
                   "Manifest-Version: 1.0\r\nCreated-By: Kontor (pipelines/engines/spark_jar.py)\r\n\r\n")
        for f in sorted(classes.rglob("*.class")):
            z.writestr(zipfile.ZipInfo(f.relative_to(classes).as_posix(), (1980, 1, 1, 0, 0, 0)), f.read_bytes(),
                       zipfile.ZIP_DEFLATED)
