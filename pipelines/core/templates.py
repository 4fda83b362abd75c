"""The text of a stage's ``sql/<name>.sql``, without sqlglot: commands that only run a template
(``kontor query`` opening the serving copy) do not pay for importing it. ``pipelines.core.sql``
re-exports ``template`` beside the helpers that fill templates."""
from __future__ import annotations

import functools
from pathlib import Path


@functools.cache
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip().rstrip(";").strip()


@functools.cache
def template(anchor: str, name: str) -> str:
    """The text of ``sql/<name>.sql`` beside the module whose ``__file__`` is ``anchor``."""
    return _read(Path(anchor).parent / "sql" / f"{name}.sql")
