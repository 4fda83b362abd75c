"""Shared fixtures: throw-away Kontor projects in tmp_path, never the working tree."""
from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.core.settings import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent
# The tests' extracts are complete when written: no settle time (the default waits up to 30 s for a
# file younger than that). Inherited by the `kontor` subprocesses the tests start.
os.environ.setdefault("KONTOR_SETTLE_SECONDS", "0")
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def make_project(root: Path, sources_yml: str | None = None, env: dict[str, str] | None = None,
                 with_models: bool = False, with_expectations: bool = False) -> Settings:
    """A project dir with pyproject.toml and models/sources.yml (the shipped one by default);
    ``with_models`` copies the shipped SQL models too, ``with_expectations`` the quality gates."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text('[tool.kontor]\nname = "test"\ndata_dir = "data"\ntarget_dir = "target"\n')
    if with_models:
        shutil.copytree(REPO / "models", root / "models", dirs_exist_ok=True)
    if with_expectations:
        shutil.copytree(REPO / "expectations", root / "expectations", dirs_exist_ok=True)
    (root / "models").mkdir(exist_ok=True)
    if sources_yml is None:
        shutil.copy(REPO / "models" / "sources.yml", root / "models" / "sources.yml")
    else:
        (root / "models" / "sources.yml").write_text(sources_yml)
    (root / "data").mkdir(exist_ok=True)
    return load_settings(root, env=env or {})


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> Path:
    """The demo extracts at scale 0.3, generated once per test session."""
    from pipelines.demo import generate

    out = tmp_path_factory.mktemp("demo") / "data"
    generate(out, scale=0.3, seed=7)
    return out


@pytest.fixture()
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database on the local server, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    name = f"kontor_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is not reachable ({exc}); .ci/run starts it")
    admin.execute(f'create database "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'drop database "{name}" with (force)')
        admin.close()
