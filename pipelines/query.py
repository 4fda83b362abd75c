"""Ad-hoc SQL on the serving copy: read-only, never touching the writer's file."""
from __future__ import annotations

from typing import Any

import duckdb

from pipelines.errors import KontorError
from pipelines.settings import Settings
from pipelines.warehouse import connect_settings


def run_query(settings: Settings, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    path = settings.serving_path
    if not path.is_file():
        raise KontorError(f"{settings.relative(path)} does not exist yet; fix: run `kontor run` once")
    con = connect_settings(settings, path, read_only=True)
    try:
        cursor = con.execute(sql)
        if cursor.description is None:
            return [], []
        return [d[0] for d in cursor.description], cursor.fetchall()
    except duckdb.Error as exc:
        raise KontorError(f"query failed: {str(exc).splitlines()[0]}") from exc
    finally:
        con.close()
