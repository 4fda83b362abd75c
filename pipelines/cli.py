"""The ``kontor`` command line: one program, every command with ``--help``.

Errors end in one line naming the problem and the fix and a non-zero exit code, never a bare
traceback (``KONTOR_DEBUG=1`` shows it for bug reports).
"""
from __future__ import annotations

import os
import sys
import warnings
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from pipelines.core.errors import KontorError, ProjectError

app = typer.Typer(
    help="Kontor: declarative back-office data pipeline (CRM, ERP, accounting → DuckDB → master data → reports).",
    no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
)
console = Console(stderr=True)


def load_settings():
    """``pipelines.core.settings.load_settings``, imported when a command runs: the settings are
    pydantic models, and pydantic's import alone is most of what ``kontor --help`` would load."""
    from pipelines.core.settings import load_settings as load

    return load()


class StewardAction(str, Enum):
    """The choices of ``pipelines.entities.decisions.StewardAction``, here so that ``kontor --help``
    does not import the entity stage (DuckDB, sqlglot: 0.2 s); a test keeps the two equal."""
    merge = "merge"
    split = "split"
    distinct = "distinct"
    choose_value = "choose_value"
    reopen = "reopen"
    approve = "approve"


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"


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
        console.print("[green]✓[/] ERP tables in PostgreSQL schema erp: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))


@app.command()
def run(
    select: Annotated[Optional[list[str]], typer.Option("--select", "-s", help="An asset or model in any form of its name (fct_invoices, marts.fct_invoices, marts/fct_invoices; + for up/downstream: fct_invoices+), a group (raw, group:raw) or Dagster's selection syntax ('key:raw/*'). Repeatable.")] = None,
    full_refresh: Annotated[bool, typer.Option("--full-refresh", help="Rebuild incremental models from scratch (snapshots keep their history).")] = False,
    retrain: Annotated[bool, typer.Option("--retrain", help="Retrain the entities' Splink models (otherwise only when settings change or the input drifts).")] = False,
    history: Annotated[Optional[bool], typer.Option("--history/--no-history", help="Record the run in the Dagster instance (DAGSTER_HOME), where kontor dev shows it, or not (--no-history: an in-memory instance, faster); default: the history setting of the project's tool.kontor table (\"instance\": record; \"none\": not).", show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Run even when nothing changed since the last complete run.")] = False,
    evaluate: Annotated[bool, typer.Option("--evaluate", help="Score the resolved entities against the ground truth their entity files name (the demo data's), into the golden records' metadata.")] = False,
) -> None:
    """Materialise the asset graph in-process (the same Definitions as the UI), checks applied.
    Ends at once, per source "skipped (already loaded)", when nothing changed since the last complete run."""
    import gc

    # Modules and definitions live as long as the process: the garbage collector would only
    # rescan them, again and again (about a second of a 200-model run on a busy machine).
    # run_pipeline freezes them and turns the collector back on for the run itself.
    gc.disable()
    from pipelines.core import uptodate
    from pipelines.core.runlock import RunLock

    settings = load_settings()
    # Refused at once, before the heavy imports, when another run writes this warehouse.
    with RunLock(settings.target_dir, ", ".join(select or []) or "everything"):
        taken = uptodate.fingerprint(settings)
        if not (full_refresh or retrain or force or evaluate) and _nothing_new(settings, select, uptodate.last_run(settings, taken)):
            return
        outcome = _run(settings, select, full_refresh, retrain, history, evaluate)
        if not (select or full_refresh or retrain or outcome.files_waiting) and _reads_files_only(settings):
            uptodate.record(settings, taken, outcome.run_id, outcome.assets)


def _nothing_new(settings, select: Optional[list[str]], last: Optional[dict]) -> bool:
    """Say so and return True when the last complete run left everything as a run would make it."""
    import re

    from pipelines.core.names import selection_text

    if last is None:
        return False
    groups = {g for g in last["assets"].values() if g}
    for text in select or []:
        if selection_text(text, list(last["assets"]), groups) == text and not re.fullmatch(r'group:"?[\w-]+"?', text):
            return False       # Dagster's own selection syntax: Dagster resolves it, in a real run
    for key, group in sorted(last["assets"].items()):
        if group == "raw":
            console.print(f"[yellow]-[/] {key}  [dim]skipped (already loaded)[/]", highlight=False)
    finished = last["finished_at"].replace("T", " ").replace("+00:00", " UTC")
    console.print(f"[green]✓[/] nothing new since run {last['run_id'][:8]} ({finished}): extracts, project files, "
                  f"steward decisions and Kontor unchanged; the serving copy {settings.relative(settings.serving_path)} "
                  "is current (--force runs anyway)", highlight=False, soft_wrap=True)
    return True


def _reads_files_only(settings) -> bool:
    """A source read from a database may change without a file changing: such a project always runs."""
    from pipelines.sources.spec import load_sources

    return all(t.location for t in load_sources(settings.sources_file, settings.relative(settings.sources_file)).tables)


def _run(settings, select: Optional[list[str]], full_refresh: bool, retrain: bool, history: Optional[bool] = None,
         evaluate: bool = False):
    import gc

    from pipelines.run import run_pipeline

    marks = {"started": "[dim]…[/]", "materialized": "[green]✓[/]", "failed": "[red]✗[/]", "skipped": "[yellow]-[/]",
             "gate_failed": "[red]✗ gate[/]", "gate_warned": "[yellow]! gate[/]",
             "alerted": "[yellow]✉ alert[/]", "recovered": "[green]✉ all-clear[/]", "alert_failed": "[red]✉ alert not sent[/]"}

    def progress(kind: str, asset: str, detail: str) -> None:
        if kind != "started":
            # one line per asset even in a pipe, where it gets grepped
            console.print(f"{marks[kind]} {asset}" + (f"  [dim]{escape(detail)}[/]" if detail else ""), soft_wrap=True)

    if history is None:
        history = settings.history != "none"
    outcome = run_pipeline(settings, select, on_event=progress, full_refresh=full_refresh, retrain=retrain,
                           history=history, evaluate=evaluate)
    # The process ends here, with everything closed and written. Frozen, its objects are left to
    # the operating system rather than collected on the way out (1.5 s after 200 models).
    gc.freeze()
    if not outcome.success:
        reasons = "; ".join(outcome.gate_failures + outcome.failures) or (
            "see the run in `kontor dev`" if history else
            "run again with --history to see it in `kontor dev` (not recorded: [tool.kontor] history = \"none\" or --no-history)")
        raise KontorError(f"run {outcome.run_id[:8]} failed: {reasons}")
    console.print(f"[green]✓[/] run {outcome.run_id[:8]}: {len(outcome.materialized)} assets materialised; "
                  f"serving copy at {settings.relative(settings.serving_path)}")
    return outcome


@app.command()
def check() -> None:
    """Validate every project file; prints `file:line: message` per problem."""
    from pipelines.check import check_remembered

    settings = load_settings()
    problems, summary, remembered = check_remembered(settings)
    for problem in problems:
        typer.echo(str(problem))
    if problems:
        raise typer.Exit(1)
    console.print(f"[green]✓[/] {summary}" + (" (no file changed since the last check)" if remembered else ""),
                  highlight=False, soft_wrap=True)


@app.command()
def compile(
    model: Annotated[str, typer.Argument(help="The model: fct_invoices, marts.fct_invoices or marts/fct_invoices.")],
) -> None:
    """Print a model's compiled SQL (Jinja rendered, transpiled to DuckDB)."""
    from pipelines.definitions import compile_models
    from pipelines.core.names import resolve

    compiled = compile_models(load_settings())
    by_key = {f"{cm.model.schema}/{name}": name for name, cm in compiled.models.items()}
    typer.echo(compiled.models[by_key[resolve(model, by_key)]].sql)


@app.command()
def lineage(
    column: Annotated[str, typer.Argument(help="TABLE.COLUMN in any form of the table's name: fct_invoices.net_amount, "
                                               "marts.fct_invoices.net_amount, marts/fct_invoices.net_amount")],
) -> None:
    """Print where a column comes from, down to the source files."""
    from rich.tree import Tree

    from pipelines.definitions import compile_models
    from pipelines.models.lineage import ColumnRef, LineageNode, trace
    from pipelines.core.names import resolve

    table, _, name = column.rpartition(".")
    if not table or not name:
        raise KontorError(f"{column!r}: write TABLE.COLUMN, e.g. fct_invoices.net_amount or marts.fct_invoices.net_amount")
    compiled = compile_models(load_settings())
    keys = [f"{cm.model.schema}/{n}" for n, cm in compiled.models.items()]
    keys += [f"raw/{t.key}" for t in compiled.project.sources.tables]
    schema, _, relation = resolve(table, keys, "model or source table").partition("/")
    root = trace(compiled, ColumnRef(schema, relation, name))

    def add(tree: Tree, node: LineageNode) -> None:
        for up in node.upstream:
            add(tree.add(str(up.ref) + (f"  [dim]← {up.origin}[/]" if up.origin else "")), up)

    tree = Tree(str(root.ref) + (f"  [dim]← {root.origin}[/]" if root.origin else ""))
    add(tree, root)
    if not root.upstream and not root.origin:
        raise KontorError(f"no lineage for {column}: not a column of {schema}.{relation} Kontor can trace "
                          f"(see its columns with kontor compile {relation})")
    # In a pipe, never wrap or crop: the lines get grepped and copied.
    Console(width=None if sys.stdout.isatty() else 1000).print(tree)


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="SQL to run on the serving copy (read-only).")],
    format: Annotated[OutputFormat, typer.Option("--format", "-f", help="table, csv, json or markdown.")] = OutputFormat.table,
    limit: Annotated[int, typer.Option("--limit", "-n", min=0, help="Show at most this many rows (the rest are counted).")] = 100,
    all_rows: Annotated[bool, typer.Option("--all", help="Show every row.")] = False,
) -> None:
    """Run SQL against the serving copy of the warehouse; works while a run writes."""
    from pipelines.analysts import output
    from pipelines.analysts.query import run_query

    result = run_query(load_settings(), sql, None if all_rows else limit)
    notes: list[str] = []
    if format is OutputFormat.csv:
        output.write_csv(result.columns, result.rows, sys.stdout)
    elif format is OutputFormat.json:
        output.write_json(result.columns, result.rows, sys.stdout)
    elif format is OutputFormat.markdown:
        output.write_markdown(result.columns, result.types, result.rows, sys.stdout)
    elif result.columns:
        notes = output.write_table(result.columns, result.types, result.rows)
    if result.truncated:
        notes.append(f"showing {len(result.rows):,} of {result.total:,} rows, use --limit N or --all")
    elif format is OutputFormat.table and result.columns:
        notes.append(f"{result.total:,} row{'' if result.total == 1 else 's'}")
    for note in notes:
        console.print(f"[dim]{escape(note)}[/]", highlight=False, soft_wrap=True)


@app.command()
def describe(
    table: Annotated[Optional[str], typer.Argument(help="A table in any form of its name (fct_invoices, marts.fct_invoices); none: every table.")] = None,
    format: Annotated[OutputFormat, typer.Option("--format", "-f", help="table, csv, json or markdown.")] = OutputFormat.table,
) -> None:
    """What a table holds, its grain and every column, from the descriptions the warehouse carries."""
    from pipelines.analysts import output
    from pipelines.analysts.docs import read_comments
    from pipelines.core.names import resolve
    from pipelines.core.warehouse import connect_settings

    settings = load_settings()
    if not settings.serving_path.is_file():
        raise KontorError(f"{settings.relative(settings.serving_path)} does not exist yet; fix: run `kontor run` once")
    con = connect_settings(settings, settings.serving_path, read_only=True)
    try:
        everything = read_comments(con)
        relation = None
        if table:
            keys = [t["relation"].replace(".", "/") for t in everything]
            relation = resolve(table, keys, "table").replace("/", ".", 1)
        tables = [t for t in everything if relation is None or t["relation"] == relation]
    finally:
        con.close()
    if relation is None:
        rows = [(t["relation"], t["kind"], t["rows"], t["comment"]) for t in tables]
        columns, types = ["table", "kind", "rows", "description"], ["VARCHAR", "VARCHAR", "BIGINT", "VARCHAR"]
    else:
        found = tables[0]
        if format is OutputFormat.table:
            rows_text = f", about {found['rows']:,} rows" if found["rows"] is not None else ""
            Console(width=None if sys.stdout.isatty() else 120).print(
                f"[bold]{found['relation']}[/] ({found['kind']}{rows_text})\n{escape(found['comment'] or '(no description)')}\n",
                highlight=False)
        rows = [(c["name"], c["type"], c["comment"]) for c in found["columns"]]
        columns, types = ["column", "type", "description"], ["VARCHAR"] * 3
    if format is OutputFormat.csv:
        output.write_csv(columns, rows, sys.stdout)
    elif format is OutputFormat.json:
        output.write_json(columns, rows, sys.stdout)
    elif format is OutputFormat.markdown:
        output.write_markdown(columns, types, rows, sys.stdout)
    else:
        for note in output.write_table(columns, types, rows):
            console.print(f"[dim]{escape(note)}[/]", highlight=False, soft_wrap=True)


class ExportFormat(str, Enum):
    parquet = "parquet"
    csv = "csv"
    xlsx = "xlsx"


def _serving(settings) -> Path:
    if not settings.serving_path.is_file():
        raise KontorError(f"{settings.relative(settings.serving_path)} does not exist yet; fix: run `kontor run` once")
    return settings.serving_path


@app.command()
def export(
    table: Annotated[str, typer.Argument(help="A table in any form of its name (fct_invoices, marts.fct_invoices).")],
    format: Annotated[ExportFormat, typer.Option("--format", "-f", help="parquet, csv or xlsx.")] = ExportFormat.parquet,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="The file (default: target/exports/<schema>.<table>.<format>).")] = None,
    german: Annotated[bool, typer.Option("--german", help="CSV for Excel with German settings: ';', decimal comma, DD.MM.YYYY, UTF-8 with BOM.")] = False,
) -> None:
    """Write one table of the serving copy as a file for Excel and BI tools."""
    from pipelines.analysts.docs import read_comments
    from pipelines.analysts.export import export_table
    from pipelines.core.names import resolve
    from pipelines.core.warehouse import connect_settings

    settings = load_settings()
    if german and format is not ExportFormat.csv:
        raise KontorError("--german is a CSV dialect; fix: add --format csv")
    con = connect_settings(settings, _serving(settings), read_only=True)
    try:
        keys = [t["relation"].replace(".", "/", 1) for t in read_comments(con)]
        relation = resolve(table, keys, "table").replace("/", ".", 1)
        path = out or settings.target_dir / "exports" / f"{relation}.{format.value}"
        with console.status(f"exporting {relation} …"):
            rows = export_table(con, relation, path.resolve(), format.value, german)
    finally:
        con.close()
    console.print(f"[green]✓[/] {relation}: {rows:,} rows", highlight=False)
    typer.echo(settings.relative(path.resolve()))


@app.command()
def sql() -> None:
    """An interactive SQL shell on the serving copy: the DuckDB CLI if installed, else Kontor's own."""
    from pipelines.analysts.shell import duckdb_cli, exec_duckdb_cli, repl
    from pipelines.core.warehouse import connect_settings

    settings = load_settings()
    serving = _serving(settings)
    cli = duckdb_cli()
    if cli and not os.environ.get("KONTOR_SQL_BUILTIN"):
        exec_duckdb_cli(cli, serving)
    failures = repl(serving, lambda: connect_settings(settings, serving, read_only=True))
    if failures and not sys.stdin.isatty():
        raise typer.Exit(1)


@app.command()
def report(
    name: Annotated[str, typer.Argument(help="A report folder under reports/, e.g. monthly_pack.")],
    period: Annotated[Optional[str], typer.Option(help="2026-10 (month), 2026-W43 (ISO week), 2026-10-31 (day) or 2026-Q3 (quarter), of the report's grain; default: the latest complete period the data covers.")] = None,
    force: Annotated[bool, typer.Option(help="Write a new version even when the facts are unchanged.")] = False,
    language: Annotated[Optional[str], typer.Option(help="de or en (default: the report's); a translation is archived as <name>_<language>.")] = None,
) -> None:
    """Issue one report by hand: facts, checked narrative, PDF; a new version only when the facts changed."""
    from pipelines.run import issue_by_hand

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
    from pipelines.core.services import services_for
    from pipelines.reports.stage import approve_report
    from pipelines.reports.spec import find_report

    settings = load_settings()
    record, delivery = approve_report(settings, find_report(settings.project_dir, name), period, version, by,
                                      services=services_for(settings))
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
    from rich.table import Table

    from pipelines.stewards.stewardship import queue

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
    from rich.table import Table

    from pipelines.stewards.stewardship import show

    found = show(load_settings(), entity, item)
    out = Console(width=1000) if not sys.stdout.isatty() else Console()
    if found["reason"]:
        out.print(f"[bold]{item}[/]: {found['reason']}")
    golden = Table(*found["golden_columns"], title="golden")
    for g in found["golden"]:
        golden.add_row(*[", ".join(v) if isinstance(v, list) else str(v if v is not None else "") for v in g])
    out.print(golden)
    records = Table(*found["record_columns"], title="records")
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
    attribute: Annotated[Optional[str], typer.Option(help="choose_value: the attribute, e.g. iban.")] = None,
    value: Annotated[Optional[str], typer.Option(help="choose_value: the value to keep.")] = None,
    comment: Annotated[Optional[str], typer.Option(help="Why; goes into the audit trail.")] = None,
    apply: Annotated[bool, typer.Option("--apply/--no-apply", help="Re-resolve the entity now (its clusters, golden records, queue and the serving copy); otherwise the next run does.")] = True,
) -> None:
    """Record a decision as the operating-system user and re-resolve the entity at once. IBAN changes
    and merges of records with different valid VAT IDs wait for a second steward (approve)."""
    from pipelines.core.services import services_for
    from pipelines.stewards.identity import os_user
    from pipelines.stewards.stewardship import decide

    settings = load_settings()
    targets = list(target or [])
    request = {"entity": entity, "action": action.value, "target_ids": targets, "attribute": attribute,
               "value": targets[0] if action.value == "approve" and targets else value, "comment": comment}
    identity = os_user()
    decision = decide(settings, request, identity, services_for(settings).state)
    if decision.get("duplicate"):
        console.print(f"[yellow]=[/] {decision['message']}", highlight=False, soft_wrap=True)
        return
    state = "pending a second steward's approval" if decision["status"] == "pending" else "recorded"
    console.print(f"[green]✓[/] decision {decision['decision_id']} ({decision['action']}) by {identity.name} "
                  f"(operating-system user) {state}", highlight=False, soft_wrap=True)
    if decision["status"] == "active" and apply:
        _apply_decisions(settings, entity)


def _apply_decisions(settings, entity: str) -> None:
    """Re-resolve ``entity`` now; a failure (a run holding the warehouse) leaves it to the next run."""
    from assets.steward import apply_selection
    from pipelines.run import run_pipeline

    with console.status(f"re-resolving {entity} …"):
        try:
            outcome = run_pipeline(settings, [f"key:{k.to_user_string()}" for k in apply_selection(entity)])
            ok, why = outcome.success, "; ".join(outcome.failures)
        except KontorError as exc:
            ok, why = False, str(exc)
    if ok:
        console.print(f"[green]✓[/] {entity} re-resolved: golden records, queue and serving copy updated", highlight=False)
    else:
        console.print(f"[yellow]![/] decision stored, but {entity} could not be re-resolved now ({why}); "
                      "the next run (kontor run) applies it", highlight=False, soft_wrap=True)


@steward_app.command("review")
def steward_review(
    port: Annotated[int, typer.Option(help="Port of the review page.")] = 3001,
    host: Annotated[str, typer.Option(help="Interface to listen on (loopback: put the authenticating proxy in front).")] = "127.0.0.1",
    dagster: Annotated[str, typer.Option(help="The Dagster UI the decisions are launched on.", envvar="KONTOR_DAGSTER_URL")] = "http://127.0.0.1:3000",
) -> None:
    """Serve the stewards' review page: the queue, records side by side, one click per decision
    (each a run of the steward_decision job on the Dagster UI)."""
    import threading

    from pipelines.stewards.review import serve

    server = serve(load_settings(), host, port, dagster)
    console.print(f"review page on http://{host}:{port}/ (decisions run on {dagster})", highlight=False)
    try:
        threading.Event().wait()      # the server runs in its own thread until Ctrl-C
    except KeyboardInterrupt:
        server.shutdown()


@steward_app.command("add-user")
def steward_add_user(
    name: Annotated[str, typer.Argument(help="The steward's login name, e.g. anna.schmidt.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input (scripts).")] = False,
) -> None:
    """Create a local steward account for the review page, or set a new password; the password is
    asked twice without echo, stored scrypt-hashed in the state store."""
    import getpass

    from pipelines.stewards.identity import add_account, os_user
    from pipelines.core.state import StateStore

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("again: ") != password:
            raise KontorError("the passwords differ; nothing stored")
    with StateStore.from_settings(load_settings()) as store:
        add_account(store, name, password, os_user())
    console.print(f"[green]✓[/] steward account {name} stored (scrypt); sign in on the review page", highlight=False)


@app.command()
def dev(
    port: Annotated[int, typer.Option(help="Port of the Dagster UI.")] = 3000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
) -> None:
    """Start the Dagster UI (`dg dev` in a dg project, else Dagster's code server, webserver and
    daemon on workspace.yaml); prints the URL when it answers; SIGTERM or Ctrl-C stops it with all
    its processes."""
    from pipelines.core.dagster_instance import prepare_dagster_home   # not pipelines.run: no Dagster here
    from pipelines.devserver import code_servers, dagster_command, serve, serve_direct

    settings = load_settings()
    env = dict(os.environ, KONTOR_PROJECT_DIR=str(settings.project_dir))
    env.setdefault("DAGSTER_HOME", str(prepare_dagster_home(settings)))
    workspace = settings.project_dir / "workspace.yaml"
    workspace = workspace if workspace.is_file() else None
    say = lambda text: console.print(text, highlight=False, soft_wrap=True)   # noqa: E731
    # A project without its own workspace.yaml loads Kontor's one code location directly.
    args = dagster_command(settings.project_dir, workspace, host, port)
    servers = code_servers(workspace) if Path(args[0]).name != "dg" else None
    if servers:
        console.print(f"starting the Dagster code server{'s' if len(servers) > 1 else ''} ("
                      f"{', '.join(s.name for s in servers)}), then the UI (DAGSTER_HOME={env['DAGSTER_HOME']}) …",
                      highlight=False)
        raise typer.Exit(serve_direct(servers, host, port, env, f"http://{host}:{port}", say))
    console.print(f"starting {Path(args[0]).name} {args[1]} (DAGSTER_HOME={env['DAGSTER_HOME']}) …", highlight=False)
    raise typer.Exit(serve(args, env, f"http://{host}:{port}", say))


def main() -> None:
    # pyspark (installed for the Spark engine; Great Expectations imports it when present) warns on
    # import that it does not yet support pandas 3: advice to its developers, not to a user.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"pyspark\.")
    try:
        app()
    except ProjectError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        sys.exit(1)
    except KontorError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except Exception as exc:  # the CLI promise: one line, never a bare traceback
        if os.environ.get("KONTOR_DEBUG"):
            raise
        console.print(f"[red]error:[/] {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
                      "(set KONTOR_DEBUG=1 for the traceback)", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
