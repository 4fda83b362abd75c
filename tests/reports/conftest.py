"""One demo warehouse for all report tests: the quick start's data (scale 1, seed 42) run once
through the whole Dagster graph (ingest, models, serving copy, the three reports) while a
loopback LLM answers. Tests that change anything work on a copy of the warehouse."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import REPO, make_project
from pipelines.core.settings import Settings, load_settings
from reports.servers import LlmServer


@dataclass
class Demo:
    root: Path
    settings: Settings            # the project without any LLM or SMTP configured
    materialized: list[str]
    prompts: list[dict]           # every request the LLM received during the run


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Demo:
    from pipelines.demo import generate
    from pipelines.run import run_pipeline

    root = tmp_path_factory.mktemp("reports") / "project"
    make_project(root, with_models=True)
    shutil.copytree(REPO / "reports", root / "reports")
    generate(root / "data", scale=1, seed=42)
    with LlmServer() as llm:
        outcome = run_pipeline(load_settings(root, env=llm.env()))
        prompts = list(llm.requests)
    assert outcome.success, outcome.failures
    return Demo(root, load_settings(root, env={}), outcome.materialized, prompts)


def isolated(demo: Demo, tmp_path: Path, env: dict[str, str] | None = None, project: Path | None = None) -> Settings:
    """Settings on a private copy of the demo warehouse (and an empty archive) under ``tmp_path``."""
    target = tmp_path / "target"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(demo.settings.warehouse_path, target / "warehouse.duckdb")
    return load_settings(project or demo.root, env={"KONTOR_TARGET": str(target), **(env or {})})


def copy_project(demo: Demo, tmp_path: Path) -> Path:
    """A project folder with the demo's pyproject and reports, to change a report in."""
    root = tmp_path / "project"
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(demo.root / "pyproject.toml", root / "pyproject.toml")
    shutil.copytree(demo.root / "reports", root / "reports")
    return root
