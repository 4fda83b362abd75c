"""Render a model's Jinja into SQL, recording what it refers to.

``ref('m')`` and ``source('sys', 'table')`` return the relation's name and record the
dependency; ``config(...)`` records settings; ``var``, ``is_incremental()`` and ``this`` behave as
in dbt. Macros are ``{% macro %}`` blocks in ``.sql`` files of a macros folder, callable by name.

>>> from pathlib import Path
>>> r = Renderer([], {"orders": "marts.orders"}, set(), set(), {})
>>> r.render("select * from {{ ref('orders') }}", "m.sql", this="marts.m").sql
'select * from marts.orders'
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from pipelines.errors import Problem
from pipelines.sources.spec import did_you_mean

_MISSING = object()


@dataclass
class Rendered:
    sql: str
    refs: list[str] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def line_of(raw: str, pattern: str) -> int | None:
    match = re.search(pattern, raw)
    return raw.count("\n", 0, match.start()) + 1 if match else None


def _template_line(exc: BaseException, name: str) -> int | None:
    """The template line of a render-time error: Jinja rewrites tracebacks to template lines."""
    tb, line = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == name:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class Renderer:
    """One Jinja environment per project: macros loaded once, models rendered many times."""

    def __init__(self, macro_files: list[Path], relations: dict[str, str], model_names: set[str],
                 source_keys: set[tuple[str, str]], vars: dict[str, Any], display=lambda p: str(p)):
        self.env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                      autoescape=False)  # SQL, not HTML
        self.relations = relations              # model or seed name -> schema.name
        self.model_names = model_names | set(relations)
        self.source_keys = source_keys
        self.vars = vars
        self.problems: list[Problem] = []
        for path in macro_files:
            self._load_macros(path, display(path))

    def _load_macros(self, path: Path, display: str) -> None:
        try:
            module = self.env.from_string(path.read_text(encoding="utf-8")).module
        except jinja2.TemplateSyntaxError as exc:
            self.problems.append(Problem(display, exc.lineno, f"macro syntax error: {exc.message}"))
            return
        for name in dir(module):
            macro = getattr(module, name)
            if isinstance(macro, jinja2.runtime.Macro):
                # Into the environment's globals, so macros can call each other and models see them.
                self.env.globals[name] = macro

    def render(self, raw: str, file: str, this: str, is_incremental: bool = False) -> Rendered:
        out = Rendered(sql="")

        def ref(name: str, *more: str) -> str:
            name = more[-1] if more else name   # ref('package', 'model'): one project here
            if name not in self.model_names:
                line = line_of(raw, rf"ref\(\s*['\"]{re.escape(name)}['\"]")
                out.problems.append(Problem(file, line, f"unknown ref({name!r}){did_you_mean(name, self.model_names)}"))
                return f"__unknown_ref__{name}"
            out.refs.append(name)
            return self.relations.get(name, name)

        def source(system: str, table: str) -> str:
            # '<table>__current' is the table's current state (raw.<system>__<table>__current, a view
            # ingest keeps: the newest delivery of a full table, the newest version per key of a delta one)
            current = table.endswith("__current") and (system, table.removesuffix("__current")) in self.source_keys
            if current:
                out.sources.append((system, table.removesuffix("__current")))
                return f"raw.{system}__{table}"
            if (system, table) not in self.source_keys:
                line = line_of(raw, rf"source\(\s*['\"]{re.escape(system)}['\"]\s*,\s*['\"]{re.escape(table)}['\"]")
                known = {f"{s}.{t}" for s, t in self.source_keys}
                out.problems.append(Problem(file, line, f"unknown source({system!r}, {table!r})"
                                            f"{did_you_mean(f'{system}.{table}', known)}; declare it in models/sources.yml"))
                return f"__unknown_source__{system}__{table}"
            out.sources.append((system, table))
            return f"raw.{system}__{table}"

        def config(**kwargs: Any) -> str:
            out.config.update(kwargs)
            return ""

        def var(name: str, default: Any = _MISSING) -> Any:
            if name in self.vars:
                return self.vars[name]
            if default is _MISSING:
                line = line_of(raw, rf"var\(\s*['\"]{re.escape(name)}['\"]")
                out.problems.append(Problem(file, line, f"var({name!r}) is not set and has no default; "
                                            "set it under [tool.kontor.vars] in pyproject.toml"))
                return ""
            return default

        context = {
            "ref": ref, "source": source, "config": config, "var": var,
            "is_incremental": lambda: is_incremental, "this": this,
            "target": {"name": "kontor", "type": "duckdb", "schema": this.split(".")[0]},
        }
        try:
            out.sql = self.env.from_string(raw).render(context)
        except jinja2.TemplateSyntaxError as exc:
            out.problems.append(Problem(file, exc.lineno, f"Jinja syntax error: {exc.message}"))
        except jinja2.TemplateError as exc:
            out.problems.append(Problem(file, _template_line(exc, "<template>"), f"Jinja error: {exc.message}"))
        except Exception as exc:  # an error raised inside a macro or a filter
            out.problems.append(Problem(file, _template_line(exc, "<template>"), f"error while rendering: {exc}"))
        return out
