"""The ``kontor`` command line: one program, every command with ``--help``.

Errors end in one line naming the problem and the fix and a non-zero exit code, never a bare
traceback (``KONTOR_DEBUG=1`` shows it for bug reports).
"""
from __future__ import annotations

import csv
import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from pipelines.entities.decisions import StewardAction
from pipelines.errors import KontorError, ProjectError
from pipelines.settings import load_settings

app = typer.Typer(
    help="Kontor: declarative back-office data pipeline (CRM, ERP, accounting → DuckDB → master data → reports).",
    no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
)
console = Console(stderr=True)


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


@app.command("demo-data")
def demo_data(
    out: Annotated[Optional[Path], typer.Option(help="Directory for the extracts (default: the project's data_dir).")] = None,
    scale: Annotated[float, typer.Option(min=0.01, help="1 ≈ 1,950 companies (4,800 master records); 250 ≈ 1.2M master records, streamed.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Same seed, same bytes.")] = 42,
    postgres: Annotated[bool, typer.Option("--postgres", help="Also load the ERP tables into the PostgreSQL database in KONTOR_ERP_PG_URL (schema erp).")] = False,
) -> None:
    """Write the demo back office's extracts (CRM, ERP, DATEV accounting) and their ground truth."""
    from pipelines.demo import generate

    settings = load_settings()
    target = out or settings.data_dir
    with console.status(f"writing demo data to {target} …"):
        manifest = generate(target, scale=scale, seed=seed)
    files = manifest.get("files", {})
    rows = sum(v if isinstance(v, int) else v.get("rows", 0) for v in files.values()) if isinstance(files, dict) else 0
    console.print(f"[green]✓[/] demo data in {target} ({len(files)} files, {rows:,} rows, seed {seed}, scale {scale:g})")
    if postgres:
        from pipelines.demo.postgres import load_erp_into_postgres

        url = settings.env.get("KONTOR_ERP_PG_URL")
        if not url:
            raise KontorError("--postgres needs KONTOR_ERP_PG_URL; fix: export KONTOR_ERP_PG_URL=postgresql://user@host:5432/db")
        counts = load_erp_into_postgres(target, url)
        console.print(f"[green]✓[/] ERP tables in PostgreSQL schema erp: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))


@app.command()
def run(
    select: Annotated[Optional[list[str]], typer.Option("--select", "-s", help="Dagster asset selection, e.g. 'group:raw' or 'key:raw/crm__accounts+'. Repeatable.")] = None,
    full_refresh: Annotated[bool, typer.Option("--full-refresh", help="Rebuild incremental models from scratch (snapshots keep their history).")] = False,
    retrain: Annotated[bool, typer.Option("--retrain", help="Retrain the entities' Splink models (otherwise only when settings change or the input drifts).")] = False,
) -> None:
    """Materialise the asset graph in-process (the same Definitions as the UI), checks applied."""
    import gc

    # Modules and definitions live as long as the process: the garbage collector would only
    # rescan them, again and again (about a second of a 200-model run on a busy machine).
    # run_pipeline freezes them and turns the collector back on for the run itself.
    gc.disable()
    from pipelines.run import run_pipeline

    settings = load_settings()
    marks = {"started": "[dim]…[/]", "materialized": "[green]✓[/]", "failed": "[red]✗[/]", "skipped": "[yellow]-[/]",
             "gate_failed": "[red]✗ gate[/]", "gate_warned": "[yellow]! gate[/]",
             "alerted": "[yellow]✉ alert[/]", "recovered": "[green]✉ all-clear[/]", "alert_failed": "[red]✉ alert not sent[/]"}

    def progress(kind: str, asset: str, detail: str) -> None:
        if kind != "started":
            console.print(f"{marks[kind]} {asset}" + (f"  [dim]{detail}[/]" if detail else ""))

    outcome = run_pipeline(settings, select, on_event=progress, full_refresh=full_refresh, retrain=retrain)
    # The process ends here, with everything closed and written. Frozen, its objects are left to
    # the operating system rather than collected on the way out (1.5 s after 200 models).
    gc.freeze()
    if not outcome.success:
        reasons = "; ".join(outcome.gate_failures + outcome.failures) or "see the run in `kontor dev`"
        raise KontorError(f"run {outcome.run_id[:8]} failed: {reasons}")
    console.print(f"[green]✓[/] run {outcome.run_id[:8]}: {len(outcome.materialized)} assets materialised; "
                  f"serving copy at {settings.relative(settings.serving_path)}")


@app.command()
def check() -> None:
    """Validate every project file; prints `file:line: message` per problem."""
    from pipelines.check import check_project

    settings = load_settings()
    problems, summary = check_project(settings)
    for problem in problems:
        typer.echo(str(problem))
    if problems:
        raise typer.Exit(1)
    console.print(f"[green]✓[/] {summary}")


@app.command()
def compile(
    model: Annotated[str, typer.Argument(help="Model name (the .sql file's name).")],
) -> None:
    """Print a model's compiled SQL (Jinja rendered, transpiled to DuckDB)."""
    from pipelines.definitions import compile_models
    from pipelines.sources.spec import did_you_mean

    compiled = compile_models(load_settings())
    if model not in compiled.models:
        raise KontorError(f"unknown model {model!r}{did_you_mean(model, set(compiled.models))}")
    typer.echo(compiled.models[model].sql)


@app.command()
def lineage(
    column: Annotated[str, typer.Argument(help="SCHEMA.TABLE.COLUMN, e.g. marts.fct_invoices.net_amount")],
) -> None:
    """Print where a column comes from, down to the source files."""
    from rich.tree import Tree

    from pipelines.definitions import compile_models
    from pipelines.models.lineage import ColumnRef, LineageNode, trace

    parts = column.split(".")
    if len(parts) != 3:
        raise KontorError(f"{column!r}: write SCHEMA.TABLE.COLUMN, e.g. marts.fct_invoices.net_amount")
    compiled = compile_models(load_settings())
    root = trace(compiled, ColumnRef(*parts))

    def add(tree: Tree, node: LineageNode) -> None:
        for up in node.upstream:
            add(tree.add(str(up.ref) + (f"  [dim]← {up.origin}[/]" if up.origin else "")), up)

    tree = Tree(str(root.ref) + (f"  [dim]← {root.origin}[/]" if root.origin else ""))
    add(tree, root)
    if not root.upstream and not root.origin:
        raise KontorError(f"no lineage for {column}: not a model column Kontor can trace (check the name with kontor compile)")
    # In a pipe, never wrap or crop: the lines get grepped and copied.
    Console(width=None if sys.stdout.isatty() else 1000).print(tree)


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="SQL to run on the serving copy (read-only).")],
    format: Annotated[OutputFormat, typer.Option("--format", "-f", help="table, csv or json.")] = OutputFormat.table,
) -> None:
    """Run SQL against the serving copy of the warehouse; works while a run writes."""
    from pipelines.query import run_query

    settings = load_settings()
    columns, rows = run_query(settings, sql)
    if format is OutputFormat.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    elif format is OutputFormat.json:
        json.dump([dict(zip(columns, r)) for r in rows], sys.stdout, default=str, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    else:
        table = Table(*columns, show_lines=False)
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        Console().print(table)


@app.command()
def report(
    name: Annotated[str, typer.Argument(help="A report folder under reports/, e.g. monthly_pack.")],
    period: Annotated[Optional[str], typer.Option(help="2026-10 (month), 2026-W43 (ISO week), 2026-10-31 (day) or 2026-Q3 (quarter), of the report's grain; default: the latest complete period the data covers.")] = None,
    force: Annotated[bool, typer.Option(help="Write a new version even when the facts are unchanged.")] = False,
    language: Annotated[Optional[str], typer.Option(help="de or en (default: the report's); a translation is archived as <name>_<language>.")] = None,
) -> None:
    """Issue one report by hand: facts, checked narrative, PDF; a new version only when the facts changed."""
    from pipelines.reports.issue import issue_by_hand

    settings = load_settings()
    with console.status(f"issuing {name} …"):
        result = issue_by_hand(settings, name, period, force, language)
    record, narrative = result.record, result.narrative
    if not result.issued:
        console.print(f"[green]✓[/] {name} {record['period']}: facts unchanged, v{record['version']} kept",
                      highlight=False, soft_wrap=True)
        typer.echo(settings.relative(Path(result.path)))
        return
    kind = f"llm {narrative['model']}" if narrative["kind"] == "llm" else f"template ({narrative['reason']})"
    console.print(f"[green]✓[/] {name} {record['period']} v{record['version']}: {record['pages']} pages, "
                  f"narrative {kind}; {result.delivery}", highlight=False, soft_wrap=True)
    typer.echo(settings.relative(Path(result.path)))


@app.command("report-approve")
def report_approve(
    name: Annotated[str, typer.Argument(help="The report, e.g. monthly_pack.")],
    period: Annotated[str, typer.Option(help="The issued period, e.g. 2026-10.")],
    by: Annotated[str, typer.Option(help="Who approves (recorded in the manifest).")],
    version: Annotated[Optional[int], typer.Option(help="The version to approve (default: the latest of the period).")] = None,
) -> None:
    """Approve an issued report version (four eyes) and send it if the report has e-mail delivery."""
    from pipelines.reports.issue import approve_report
    from pipelines.reports.spec import find_report

    settings = load_settings()
    record, delivery = approve_report(settings, find_report(settings.project_dir, name), period, version, by)
    console.print(f"[green]✓[/] {name} {record['period']} v{record['version']} approved by {by}; {delivery}",
                  highlight=False, soft_wrap=True)


steward_app = typer.Typer(help="Data stewards: the review queue and decisions, without the UI.", no_args_is_help=True)
app.add_typer(steward_app, name="steward")


@steward_app.command("list")
def steward_list(
    entity: Annotated[Optional[str], typer.Option(help="Only this entity (customer, supplier, ...).")] = None,
    status: Annotated[str, typer.Option(help="open, pending (awaiting a second steward), decided or all.")] = "open",
) -> None:
    """Review items, most important first: why each needs a decision and the records involved."""
    from pipelines.stewardship import queue

    items = queue(load_settings(), entity, status)
    out = Console(width=1000) if not sys.stdout.isatty() else Console()
    table = Table("entity", "item", "status", "why", "p", "records")
    for i in items:
        records = "; ".join(f"{m['system']} {m['source_id']} {m['name'] or ''}" for m in (i["members"] or []))
        p = f"{i['match_probability']:.3f}" if i["match_probability"] is not None else ""
        table.add_row(i["entity"], i["item_id"], i["status"], i["reason"], p, records)
    out.print(table)
    console.print(f"{len(items)} item(s) {status if status != 'all' else ''}".rstrip())


@steward_app.command("show")
def steward_show(
    item: Annotated[str, typer.Argument(help="A review item id, a golden id or a record id (system:source_id).")],
    entity: Annotated[str, typer.Option(help="The entity.")] = "customer",
) -> None:
    """The records of an item side by side, the golden record and the conflicting values."""
    from pipelines.stewardship import show

    found = show(load_settings(), entity, item)
    out = Console(width=1000) if not sys.stdout.isatty() else Console()
    if found["reason"]:
        out.print(f"[bold]{item}[/]: {found['reason']}")
    golden = Table("golden id", "name", "street", "no", "postcode", "city", "VAT ID", "IBAN", "in review", title="golden")
    for g in found["golden"]:
        golden.add_row(*[", ".join(v) if isinstance(v, list) else str(v if v is not None else "") for v in g])
    out.print(golden)
    records = Table("golden id", "record", "system", "name", "street", "postcode", "city", "VAT ID", "valid", "IBAN", "valid",
                    "e-mail", "phone", "updated", title="records")
    for r in found["records"]:
        records.add_row(*[str(v if v is not None else "") for v in r])
    out.print(records)
    conflicts = Table("golden id", "attribute", "value", "system", "won", "why", title="conflicts")
    for c in found["conflicts"]:
        conflicts.add_row(*[str(v if v is not None else "") for v in c])
    out.print(conflicts)


@steward_app.command("decide")
def steward_decide(
    action: Annotated[StewardAction, typer.Argument(help="merge, split, distinct, choose_value, reopen or approve.")],
    target: Annotated[Optional[list[str]], typer.Argument(help="Golden ids or record ids (system:source_id); for approve the decision id.")] = None,
    entity: Annotated[str, typer.Option(help="The entity.")] = "customer",
    steward: Annotated[str, typer.Option(help="Your name, as it goes into the audit trail.", envvar="KONTOR_STEWARD")] = "",
    attribute: Annotated[Optional[str], typer.Option(help="choose_value: the attribute, e.g. iban.")] = None,
    value: Annotated[Optional[str], typer.Option(help="choose_value: the value to keep.")] = None,
    comment: Annotated[Optional[str], typer.Option(help="Why; goes into the audit trail.")] = None,
) -> None:
    """Record a decision; the next run honours it. IBAN changes and merges of records with different
    valid VAT IDs wait for a second steward (approve)."""
    from pipelines.stewardship import decide

    targets = list(target or [])
    request = {"entity": entity, "action": action.value, "target_ids": targets, "attribute": attribute,
               "value": targets[0] if action.value == "approve" and targets else value, "steward": steward,
               "comment": comment}
    decision = decide(load_settings(), request)
    state = "pending a second steward's approval" if decision["status"] == "pending" else "recorded"
    console.print(f"[green]✓[/] decision {decision['decision_id']} ({decision['action']}) {state}; "
                  "the next run (kontor run) applies it", highlight=False, soft_wrap=True)


@app.command()
def dev(
    port: Annotated[int, typer.Option(help="Port of the Dagster UI.")] = 3000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
) -> None:
    """Start the Dagster UI (`dagster dev` on workspace.yaml)."""
    from pipelines.run import prepare_dagster_home

    settings = load_settings()
    env = dict(os.environ, KONTOR_PROJECT_DIR=str(settings.project_dir))
    env.setdefault("DAGSTER_HOME", str(prepare_dagster_home(settings)))
    workspace = settings.project_dir / "workspace.yaml"
    # A project without its own workspace.yaml loads Kontor's one code location directly.
    target = ["-w", str(workspace)] if workspace.is_file() else ["-m", "pipelines.definitions", "-a", "defs"]
    dagster = Path(sys.executable).with_name("dagster")
    args = [str(dagster), "dev", *target, "-h", host, "-p", str(port)]
    console.print(f"Dagster UI on http://{host}:{port} (DAGSTER_HOME={env['DAGSTER_HOME']})")
    os.execve(args[0], args, env)


def main() -> None:
    try:
        app()
    except ProjectError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        sys.exit(1)
    except KontorError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except Exception as exc:  # the CLI promise: one line, never a bare traceback
        if os.environ.get("KONTOR_DEBUG"):
            raise
        console.print(f"[red]error:[/] {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
                      "(set KONTOR_DEBUG=1 for the traceback)", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
