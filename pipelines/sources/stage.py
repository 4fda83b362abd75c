"""The sources stage's entry point: :func:`load` one declared table's new extracts (or its query's
result) into ``raw.<system>__<table>``; what the load did comes back as plain data (figures,
``kontor run``'s outcome line, warnings, the quarantine verdict). Dagster's source assets
(``assets/sources.py``) and ``benchmarks/ingest_datev.py`` call it, so a table loads the same everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines.core.retries import unreachable_location
from pipelines.core.sql import render, table_expr, template
from pipelines.engines.connection import Connection as EngineConnection
from pipelines.sources.ingest import TableLoad, ingest_table
from pipelines.sources.spec import Connection, SourceTable


def unreachable(table: SourceTable, data_dir: Path, attempt: str = "") -> str | None:
    """Why the table's location cannot be reached now (a share not mounted): a transient failure,
    worth a retry (``attempt``: which one, for the message)."""
    why = unreachable_location(table, data_dir)
    return why and f"{table.key}: {why}{attempt}; fix: mount the share or correct location in {table.file}:{table.line}"


@dataclass
class Loaded:
    load: TableLoad
    rows: int                    # in the raw table now
    warnings: list[str]

    @property
    def figures(self) -> dict[str, int]:
        load, count = self.load, lambda status: sum(f.status == status for f in self.load.files)
        return {"rows_read": load.total("rows_read"), "rows_loaded": load.total("rows_loaded"),
                "rows_quarantined": load.total("rows_quarantined"), "files_loaded": count("loaded"),
                "files_skipped": count("skipped"), "files_waiting": count("waiting"), "files_failed": len(load.failures)}

    @property
    def outcome_line(self) -> str:
        """One line per source for ``kontor run``: loaded / quarantined / skipped / waiting."""
        f = self.figures
        return "; ".join([f"loaded {f['files_loaded']} file(s), {f['rows_loaded']:,} rows",
                          f"quarantined {f['rows_quarantined']:,} rows", f"skipped {f['files_skipped']} (already loaded)",
                          f"waiting {f['files_waiting']}"] + ([f"failed {f['files_failed']}"] if f["files_failed"] else []))

    @property
    def failure(self) -> str | None:
        """Why files failed, if any did; a query's failure is most often an unreachable server
        (``retry``), a bad extract's is not: reading it again gives the same answer."""
        return "; ".join(f.message for f in self.load.failures) if self.load.failures else None

    @property
    def retry(self) -> bool:
        return bool(self.load.table.query)

    def files_markdown(self) -> str:
        lines = ["| file | status | batch | read | loaded | quarantined | note |", "|---|---|---|---|---|---|---|"]
        for f in self.load.files:
            note = "; ".join(filter(None, [f.message, *f.notes])).replace("|", "\\|")
            lines.append(f"| {f.path} | {f.status} | {f.batch_id or ''} | {f.rows_read} | {f.rows_loaded} "
                         f"| {f.rows_quarantined} | {note} |")
        return "\n".join(lines)

    def quarantine(self, alert_pct: float) -> tuple[bool, bool, str, dict]:
        """(passed, every row quarantined: an error, description, figures): warn when more than
        ``alert_pct`` % of this run's rows were quarantined; all of them is an error."""
        read, quarantined = self.load.total("rows_read"), self.load.total("rows_quarantined")
        share = 100.0 * quarantined / read if read else 0.0
        all_bad = read > 0 and quarantined == read
        description = (f"{quarantined:,} of {read:,} rows quarantined ({share:.1f} %, alert above {alert_pct:g} %)"
                       + ("; every row was quarantined: see kontor.quarantine for the reasons" if all_bad else ""))
        return (share <= alert_pct and not all_bad, all_bad, description,
                {"rows_read": read, "rows_quarantined": quarantined, "share_pct": round(share, 2)})


def load(con: EngineConnection, table: SourceTable, data_dir: Path, tmp_dir: Path,
         connections: dict[str, Connection] | None = None, env: dict[str, str] | None = None,
         run_id: str | None = None, settle_seconds: float = 0.0) -> Loaded:
    """Load the table's new files (``ingest_table``: never raises for a bad file, the failures are
    in the result and the ledger), with the raw table's rows and what to warn of."""
    done = ingest_table(con, table, data_dir, tmp_dir, connections, env, run_id, settle_seconds)
    rows = con.execute(render(template(__file__, "count"), relation=table_expr(table.raw_table))).fetchall()[0][0]
    warnings = [] if done.files else [f"no file matches {table.location!r} in {data_dir}"]
    for f in done.files:
        if f.rows_quarantined:
            warnings.append(f"{f.path}: {f.rows_quarantined} of {f.rows_read} rows quarantined (see kontor.quarantine)")
        if f.status == "waiting":
            warnings.append(f"{f.path}: {f.message}; it is loaded by a later run")
    return Loaded(done, rows, warnings)
