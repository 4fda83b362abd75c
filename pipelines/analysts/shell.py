"""``kontor sql``: an interactive SQL shell on the serving copy.

The DuckDB CLI when it is installed (history, completion, its own dot commands), read-only; else
a small shell of Kontor's own: statements end with ``;``, results print as ``kontor query`` prints
them (100 rows unless ``.limit N``), ``.tables`` lists the tables with their descriptions,
``.describe TABLE`` shows one, ``.quit`` or end of input leaves.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import TextIO

from pipelines.core.errors import KontorError

PROMPT, MORE = "kontor> ", "   ...> "


def duckdb_cli() -> str | None:
    """The DuckDB CLI on PATH, or beside this Python (``pip install duckdb-cli`` puts it there)."""
    beside = Path(sys.executable).with_name("duckdb")
    return shutil.which("duckdb") or (str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None)


def exec_duckdb_cli(cli: str, serving: Path) -> None:
    os.execv(cli, [cli, "-readonly", str(serving)])


def repl(serving: Path, connect, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Kontor's own shell; returns how many statements failed."""
    from pipelines.analysts import output
    from pipelines.analysts.docs import read_comments
    from pipelines.analysts.query import DEFAULT_LIMIT, fetch

    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    interactive = stdin.isatty()
    if interactive:
        try:
            import readline  # noqa: F401 - line editing and history for input()
        except ImportError:
            pass
        print(f"{serving} (read-only). End statements with ';'. .tables, .describe TABLE, .limit N, .quit",
              file=sys.stderr)
    con = connect()
    limit, buffer, failures = DEFAULT_LIMIT, [], 0

    def read(prompt: str) -> str | None:
        if interactive:
            try:
                return input(prompt)
            except EOFError:
                return None
        line = stdin.readline()
        return line.rstrip("\n") if line else None

    def show(columns, types, rows) -> None:
        for note in output.write_table(columns, types, rows, stdout):
            print(note, file=sys.stderr)

    try:
        while (line := read(MORE if buffer else PROMPT)) is not None:
            text = line.strip()
            if not buffer and text.startswith("."):
                command, _, arg = text.partition(" ")
                if command in (".quit", ".exit", ".q"):
                    break
                if command == ".limit" and arg.strip().isdigit():
                    limit = int(arg)
                elif command == ".tables":
                    show(["table", "description"], ["VARCHAR"] * 2,
                         [(t["relation"], t["comment"]) for t in read_comments(con)])
                elif command == ".describe" and arg.strip():
                    found = read_comments(con, arg.strip() if "." in arg else f"main.{arg.strip()}")
                    if not found:
                        found = [t for t in read_comments(con) if t["relation"].split(".", 1)[1] == arg.strip()]
                    for table in found:
                        print(f"{table['relation']}: {table['comment']}", file=stdout)
                        show(["column", "type", "description"], ["VARCHAR"] * 3,
                             [(c["name"], c["type"], c["comment"]) for c in table["columns"]])
                    if not found:
                        print(f"no table {arg.strip()!r}; .tables lists them", file=sys.stderr)
                        failures += 1
                else:
                    print(f"unknown command {text!r}: .tables, .describe TABLE, .limit N, .quit", file=sys.stderr)
                    failures += 1
                continue
            buffer.append(line)
            if not text.endswith(";"):
                continue
            sql, buffer = "\n".join(buffer), []
            try:
                result = fetch(con, sql, limit)
            except KontorError as exc:
                print(f"error: {exc}", file=sys.stderr)
                failures += 1
                continue
            if result.columns:
                show(result.columns, result.types, result.rows)
                if result.truncated:
                    print(f"showing {len(result.rows):,} of {result.total:,} rows, use .limit N", file=sys.stderr)
    finally:
        con.close()
    return failures
