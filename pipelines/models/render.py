"""Render a model's Jinja into SQL, recording what it refers to: dbt's Jinja context.

``ref('m')`` and ``source('sys', 'table')`` return the relation (a string that also has dbt's
``.schema``/``.identifier``) and record the dependency; ``config(...)`` records settings; ``var``,
``is_incremental()``, ``this``, ``target``, ``env_var``, ``log``, ``return``, ``exceptions``,
``adapter.dispatch``, ``doc`` and the cross-database macros of dbt's ``dbt`` namespace
(``pipelines/models/dbt_builtins.sql``, in DuckDB's dialect) behave as in dbt. Macros are
``{% macro %}`` (and ``{% test %}``) blocks in ``.sql`` files of a macros folder, callable by name;
a package's macros by ``<package>.<macro>``. Macros see the context of the model being rendered,
and an error inside one names the macro's file and line.

>>> r = Renderer([], {"orders": "marts.orders"}, set(), set(), {})
>>> r.render("select * from {{ ref('orders') }}", "m.sql", this="marts.m").sql
'select * from marts.orders'
"""
from __future__ import annotations

import collections.abc
import contextlib
import datetime
import hashlib
import json
import logging
import os
import re
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import jinja2.ext
from jinja2.debug import rewrite_traceback_stack
import yaml
from sqlglot import exp

from pipelines.core.errors import Problem
from pipelines.core.sql import template
from pipelines.core.errors import did_you_mean

_MISSING = object()
BUILTINS = Path(__file__).resolve().parent / "dbt_builtins.sql"
_TEST_BLOCK = re.compile(r"{%(-?)\s*test\s+(\w+)")
_END_TEST = re.compile(r"{%(-?)\s*endtest\s*(-?)%}")
_DOCS_BLOCK = re.compile(r"{%-?\s*docs\s+(\w+)\s*-?%}(.*?){%-?\s*enddocs\s*-?%}", re.S)
# dbt's custom materializations: ``{% materialization name, adapter %} ... {% endmaterialization %}``
_MATERIALIZATION = re.compile(r"{%-?\s*materialization\s+(\w+)[^%]*?-?%}.*?{%-?\s*endmaterialization\s*-?%}", re.S)
log = logging.getLogger("kontor.models")


@dataclass
class Rendered:
    sql: str
    refs: list[str] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    runtime: bool = False          # called run_query: its SQL is rendered again at run time


class Relation(str):
    """A relation as dbt's Jinja sees it: the quoted-if-needed ``schema.identifier`` text, plus
    dbt's attributes (``this.schema``, ``ref('x').identifier``)."""

    schema: str
    identifier: str
    database: str | None

    def __new__(cls, schema: str, identifier: str, database: str | None = None) -> Relation:
        text = exp.table_(exp.to_identifier(identifier), db=exp.to_identifier(schema) if schema else None).sql("duckdb")
        obj = super().__new__(cls, text)
        obj.schema, obj.identifier, obj.database = schema, identifier, database
        return obj

    @classmethod
    def parse(cls, text: str) -> Relation:
        if isinstance(text, ForeignSource):
            return ForeignRelation(text.database, text.schema, text.identifier)
        schema, _, name = str(text).rpartition(".")
        return cls(schema, name)

    name = property(lambda self: self.identifier)
    table = property(lambda self: self.identifier)
    is_table = property(lambda self: True)
    is_view = property(lambda self: False)

    def include(self, database: bool = True, schema: bool = True, identifier: bool = True) -> Relation:
        return self if schema else Relation("", self.identifier)

    def render(self) -> str:
        return str(self)

    def quote(self, *args: Any, **kwargs: Any) -> Relation:
        return self

    def incorporate(self, **kwargs: Any) -> Relation:
        path = kwargs.get("path") or {}
        return Relation(path.get("schema", self.schema), path.get("identifier", self.identifier))

    # dbt's relations are mappings too (dbt_utils' _is_relation: `obj is mapping` and
    # obj.get('metadata').type ending in 'Relation'); registered as one below.
    def get(self, key: str, default: Any = None) -> Any:
        found = {"metadata": {"type": "DuckDBRelation"},
                 "path": {"database": self.database, "schema": self.schema, "identifier": self.identifier}}
        return found.get(key, default)

    @property
    def is_cte(self) -> bool:        # a ref() to an ephemeral model names the CTE it becomes
        return self.identifier.startswith("__dbt__cte__")

    def dbt_rendered(self, database: str | None) -> str:
        """The text dbt-duckdb's relation renders as: ``"database"."schema"."identifier"`` (a CTE:
        its name), where Kontor's SQL says ``schema.identifier``."""
        if self.is_cte or not self.schema:
            return self.identifier
        parts = [database, self.schema, self.identifier] if database else [self.schema, self.identifier]
        return ".".join('"' + str(p).replace('"', '""') + '"' for p in parts)


collections.abc.Mapping.register(Relation)


class ForeignSource(str):
    """A dbt source in another database than the target's (``database: other``): Kontor has one
    DuckDB file, so it is named by its three parts and a model reading it fails when it runs, as in
    dbt without that database attached."""

    def __new__(cls, database: str, schema: str, identifier: str) -> ForeignSource:
        obj = super().__new__(cls, f"{database}.{schema}.{identifier}")
        obj.database, obj.schema, obj.identifier = database, schema, identifier
        return obj


class ForeignRelation(Relation):
    """``source()`` of a :class:`ForeignSource`: ``database.schema.identifier``."""

    def __new__(cls, database: str, schema: str, identifier: str) -> ForeignRelation:
        text = exp.table_(exp.to_identifier(identifier), db=exp.to_identifier(schema),
                          catalog=exp.to_identifier(database)).sql("duckdb")
        obj = str.__new__(cls, text)
        obj.schema, obj.identifier, obj.database = schema, identifier, database
        return obj

    def include(self, database: bool = True, schema: bool = True, identifier: bool = True) -> Relation:
        return self

    def dbt_rendered(self, database: str | None) -> str:
        return ".".join('"' + str(p).replace('"', '""') + '"' for p in (self.database, self.schema, self.identifier))


class ExternalRelation(Relation):
    """A dbt-duckdb source with ``external_location``: renders as the location (``read_csv(...)``),
    its ``schema``/``identifier`` those of the source."""

    def __new__(cls, location: str, relation: str = "") -> ExternalRelation:
        schema, _, name = str(relation).rpartition(".")
        obj = str.__new__(cls, location)
        obj.schema, obj.identifier, obj.database = schema, name, None
        return obj

    def include(self, database: bool = True, schema: bool = True, identifier: bool = True) -> Relation:
        return self

    def incorporate(self, **kwargs: Any) -> Relation:
        return self

    def dbt_rendered(self, database: str | None) -> str:
        return str(self)


class _Return(Exception):
    def __init__(self, value: Any):
        super().__init__("return")
        self.value = value


class CompilerError(Exception):
    """exceptions.raise_compiler_error: the project's own message, reported at its line."""


class MacroCall:
    """A Jinja macro as dbt calls it: ``{{ return(x) }}`` inside makes the call evaluate to x."""

    def __init__(self, macro: jinja2.runtime.Macro, package: str, file: str):
        self.macro, self.package, self.file = macro, package, file
        self.name = macro.name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.macro(*args, **kwargs)
        except _Return as ret:
            return ret.value


class MacroOverride:
    """A macro replaced by a unit test's ``overrides: macros:``: every call returns the value."""

    def __init__(self, name: str, value: Any):
        self.name, self.value = name, value

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.value


class Namespace:
    """``dbt_utils.generate_surrogate_key``: attribute access to one package's macros."""

    def __init__(self, name: str, macros: dict[str, MacroCall]):
        self._name, self._macros = name, macros

    def __getattr__(self, item: str) -> MacroCall:
        try:
            return self._macros[item]
        except KeyError:
            raise AttributeError(f"no macro {self._name}.{item}{did_you_mean(item, set(self._macros))}") from None

    def __contains__(self, item: str) -> bool:
        return item in self._macros


class AgateLikeTable:
    """What dbt's ``run_query`` returns, enough of agate's API for macros: rows, columns, names."""

    class Column(list):
        def __init__(self, name: str, values: list):
            super().__init__(values)
            self.name = name

        def values(self) -> list:
            return list(self)

    def __init__(self, names: list[str], rows: list[tuple]):
        self.column_names = names
        self.rows = [list(r) for r in rows]
        self.columns = [self.Column(n, [r[i] for r in rows]) for i, n in enumerate(names)]

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def print_table(self, *args: Any, **kwargs: Any) -> None:
        log.info("%s", self.rows)


def _template_line(exc: BaseException, files: set[str]) -> tuple[str | None, int | None]:
    """The innermost template frame of a render-time error: Jinja rewrites tracebacks to template lines."""
    tb, where = exc.__traceback__, (None, None)
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in files:
            where = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return where


def line_of(raw: str, pattern: str) -> int | None:
    match = re.search(pattern, raw)
    return raw.count("\n", 0, match.start()) + 1 if match else None


def dbt_jinja(text: str) -> str:
    """dbt's block syntax Jinja does not know, rewritten: ``{% test x(...) %}`` defines the macro
    ``test_x`` (dbt's convention for generic tests)."""
    return _END_TEST.sub(r"{%\1 endmacro \2%}", _TEST_BLOCK.sub(r"{%\1 macro test_\2", text))


class _Exceptions:
    def raise_compiler_error(self, message: str, node: Any = None) -> None:
        raise CompilerError(str(message))

    def warn(self, message: str, node: Any = None) -> str:
        log.warning("%s", message)
        return ""

    raise_not_implemented = raise_compiler_error


class Renderer:
    """One Jinja environment per project: macros loaded once, models rendered many times."""

    def __init__(self, macro_files: list[Path], relations: dict[str, str], model_names: set[str],
                 source_keys: set[tuple[str, str]], vars: dict[str, Any], display=lambda p: str(p), *,
                 packages: Mapping[str, list[Path]] | None = None, root_package: str = "",
                 source_relations: Mapping[tuple[str, str], str] | None = None,
                 target: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None,
                 docs: Mapping[str, str] | None = None, package_vars: Mapping[str, dict] | None = None,
                 dispatch: list | None = None, bytecode_cache: "jinja2.BytecodeCache | None" = None,
                 refused: Mapping[str, str] | None = None):
        self.bytecode_cache = bytecode_cache     # the macro files' compiled code too (before they load)
        # dbt renders with Jinja's default Undefined: an unset name prints '' (dbt_utils.at_least_one
        # prints `select_gb_cols`, set only with group_by_columns); reading into it or calling it
        # still fails. Kontor's own projects keep the strict kind, which names the typo.
        self.env = jinja2.Environment(undefined=jinja2.Undefined if packages is not None else jinja2.StrictUndefined,
                                      keep_trailing_newline=True,
                                      autoescape=False,  # SQL, not HTML
                                      extensions=[jinja2.ext.do, jinja2.ext.loopcontrols])
        self.relations = relations              # model or seed name -> schema.name
        self.model_names = model_names | set(relations)
        self.refused = dict(refused or {})        # models Kontor refuses (Python): name -> file
        self.source_keys = source_keys
        self.source_relations = dict(source_relations or {})
        self.vars = vars
        self.package_vars = dict(package_vars or {})
        self.target = dict(target or {})
        self.environ = dict(os.environ if env is None else env)
        self.docs = dict(docs or {})
        self.dbt_mode = packages is not None
        self.dispatch_order = {str(d.get("macro_namespace")): [str(p) for p in d.get("search_order") or []]
                               for d in dispatch or [] if isinstance(d, Mapping)}
        self.root_package = root_package
        self.problems: list[Problem] = []
        # custom materializations defined in macro files (name -> "file:line"): not run by
        # Kontor; a model that asks for one is refused (compile.py), the file's macros still load
        self.custom_materializations: dict[str, str] = {}
        self.files: set[str] = set()
        self.con = None                          # a warehouse connection while rendering at run time
        # dbt's graph (dbt projects): () -> (graph, complete), set by compile_project
        self.graph: Callable[[], tuple[dict, bool]] | None = None
        self._state: dict[str, Any] = {"out": Rendered(""), "raw": "", "file": "", "this": Relation("", ""),
                                       "incremental": False, "model": {}}
        self.namespaces: dict[str, dict[str, MacroCall]] = {}
        self.env.globals.update(self._context())
        # dbt's namespace (cross-database macros, the generic tests) in every project; a
        # project's own macro of the same name wins.
        self._load_macros(BUILTINS, "dbt/dbt_builtins.sql", "dbt")
        for package, files in (packages or {}).items():
            for path in files:
                self._load_macros(path, display(path), package)
        for path in macro_files:
            self._load_macros(path, display(path), root_package or "__root__")
        for package, macros in self.namespaces.items():
            if package != "__root__":
                self.env.globals[package] = Namespace(package, macros)
        # Unqualified names: dbt's own macros, then the root project's, which override them.
        self.env.globals.update(self.namespaces.get("dbt", {}))
        self.env.globals.update(self.namespaces.get(root_package or "__root__", {}))

    # -- loading -------------------------------------------------------------------------------

    def _load_macros(self, path: Path, display: str, package: str) -> None:
        text = path.read_text(encoding="utf-8")
        for block in _MATERIALIZATION.finditer(text):
            self.custom_materializations.setdefault(
                block.group(1), f"{display}:{text.count(chr(10), 0, block.start()) + 1}")
        # the blocks cut out, their lines kept (line numbers of the rest stay true)
        text = _MATERIALIZATION.sub(lambda m: "\n" * m.group(0).count("\n"), text)
        own = self.namespaces.setdefault(package, {})
        # A package's macros find each other first (dbt's rule), then everything global. The
        # module's context reads this live mapping (shared=True), so a macro finds macros of files
        # loaded after its own, as in dbt.
        live = ChainMap(own, self.env.globals)
        try:
            code = self._compile(dbt_jinja(text), display)
            template = jinja2.Template.from_code(self.env, code, self.env.make_globals(None))
            # Every macro of the file, those named _x too (Jinja's module exports leave them out;
            # dbt_utils calls its own dbt_utils._is_relation)
            context = template.new_context(live, shared=True)
            for _ in template.root_render_func(context):
                pass
            module = context.vars
        except jinja2.TemplateSyntaxError as exc:
            self.problems.append(Problem(display, exc.lineno, f"macro syntax error: {exc.message}"))
            return
        except Exception as exc:  # noqa: BLE001 - top-level code of a macro file that fails
            self.problems.append(Problem(display, None, f"macro file could not be loaded: {exc}"))
            return
        self.files.add(display)
        for name, macro in module.items():
            if isinstance(macro, jinja2.runtime.Macro):
                own[name] = MacroCall(macro, package, display)

    def macro(self, name: str, package: str | None = None) -> MacroCall | None:
        """A macro by name: the root project's, else a package's (or only ``package``'s)."""
        order = [package] if package else [self.root_package or "__root__", *self.namespaces]
        for pkg in order:
            if name in self.namespaces.get(pkg, {}):
                return self.namespaces[pkg][name]
        return None

    @contextlib.contextmanager
    def overriding(self, macros: Mapping[str, Any], environ: Mapping[str, Any]) -> Iterator[None]:
        """dbt unit tests' ``overrides``: each named macro returns the given value instead (``name``
        replaces every macro of that name, ``package.name`` only that package's), and ``env_var``
        sees ``environ`` first. Restored afterwards. Raises ``KeyError`` naming an unknown macro."""
        saved_environ = dict(self.environ)
        restore: list[tuple[dict, str, Any]] = []
        try:
            for name, value in macros.items():
                package, _, macro = str(name).rpartition(".")
                fake = MacroOverride(str(name), value)
                if package:
                    if macro not in self.namespaces.get(package, {}):
                        raise KeyError(name)
                    targets = [self.namespaces[package]]
                    if self.env.globals.get(macro) is self.namespaces[package][macro]:
                        targets.append(self.env.globals)
                else:
                    targets = [ns for ns in self.namespaces.values() if macro in ns]
                    if macro in self.env.globals:
                        targets.append(self.env.globals)
                    if not targets:
                        raise KeyError(name)
                for target in targets:
                    restore.append((target, macro, target[macro]))
                    target[macro] = fake
            self.environ.update({str(k): str(v) for k, v in environ.items()})
            yield
        finally:
            for target, macro, original in reversed(restore):
                target[macro] = original
            self.environ.clear()
            self.environ.update(saved_environ)

    # -- the context -----------------------------------------------------------------------------

    def _mark_runtime(self) -> None:
        """Rendering asked the warehouse (or `execute`): its SQL is rendered again at run time."""
        self._state["out"].runtime = True

    def _problem(self, pattern: str, message: str) -> None:
        st = self._state
        st["out"].problems.append(Problem(st["file"], line_of(st["raw"], pattern), message))

    def _context(self) -> dict[str, Any]:
        st = self._state

        def ref(name: str, *more: str, **kwargs: Any) -> str:
            name = more[-1] if more else name   # ref('package', 'model'): one project here
            if name in self.refused:
                self._problem(rf"ref\(\s*['\"]{re.escape(name)}['\"]", f"ref({name!r}) is the Python model "
                              f"{self.refused[name]}, which Kontor does not run (see there)")
                return f"__unknown_ref__{name}"
            if name not in self.model_names:
                self._problem(rf"ref\(\s*['\"]{re.escape(name)}['\"]", f"unknown ref({name!r}){did_you_mean(name, self.model_names)}")
                return f"__unknown_ref__{name}"
            st["out"].refs.append(name)
            relation = self.relations.get(name, name)
            return Relation.parse(relation) if self.dbt_mode else relation

        def source(system: str, table: str) -> str:
            if self.dbt_mode:
                relation = self.source_relations.get((system, table))
                if relation is None:
                    known = {f"{s}.{t}" for s, t in self.source_relations}
                    self._problem(rf"source\(\s*['\"]{re.escape(system)}['\"]",
                                  f"unknown source({system!r}, {table!r}){did_you_mean(f'{system}.{table}', known)}; "
                                  "declare it under sources: in a properties .yml file")
                    return f"__unknown_source__{system}__{table}"
                st["out"].sources.append((system, table))
                if hasattr(relation, "relation"):        # dbt-duckdb's external_location: rendered as it is
                    return ExternalRelation(relation, relation.relation)
                return Relation.parse(relation)
            # '<table>__current' is the table's current state (raw.<system>__<table>__current, a view
            # ingest keeps: the newest delivery of a full table, the newest version per key of a delta one)
            current = table.endswith("__current") and (system, table.removesuffix("__current")) in self.source_keys
            if current:
                st["out"].sources.append((system, table.removesuffix("__current")))
                return f"raw.{system}__{table}"
            if (system, table) not in self.source_keys:
                known = {f"{s}.{t}" for s, t in self.source_keys}
                self._problem(rf"source\(\s*['\"]{re.escape(system)}['\"]\s*,\s*['\"]{re.escape(table)}['\"]",
                              f"unknown source({system!r}, {table!r}){did_you_mean(f'{system}.{table}', known)}; "
                              "declare it in models/sources.yml")
                return f"__unknown_source__{system}__{table}"
            st["out"].sources.append((system, table))
            return f"raw.{system}__{table}"

        def config(*args: Any, **kwargs: Any) -> str:
            if args and isinstance(args[0], dict):
                kwargs = {**args[0], **kwargs}
            st["out"].config.update(kwargs)
            return ""

        def var(name: str, default: Any = _MISSING) -> Any:
            scoped = self.package_vars.get(st.get("package") or "", {})
            if name in scoped:
                return scoped[name]
            if name in self.vars:
                return self.vars[name]
            if default is _MISSING:
                where = "under vars: in dbt_project.yml (or KONTOR_VARS)" if self.dbt_mode else \
                    "under [tool.kontor.vars] in pyproject.toml"
                self._problem(rf"var\(\s*['\"]{re.escape(name)}['\"]", f"var({name!r}) is not set and has no default; set it {where}")
                return ""
            return default

        def env_var(name: str, default: Any = _MISSING) -> str:
            if name in self.environ:
                return self.environ[name]
            if default is _MISSING:
                raise CompilerError(f"env_var({name!r}): the environment variable is not set and has no default")
            return default

        def do_return(value: Any) -> None:
            raise _Return(value)

        def dbt_log(message: Any, info: bool = False) -> str:
            (log.info if info else log.debug)("%s: %s", st["file"], message)
            return ""

        def doc(name: str, *more: str) -> str:
            name = more[-1] if more else name
            if name not in self.docs:
                self._problem(rf"doc\(\s*['\"]{re.escape(name)}['\"]", f"unknown doc({name!r}){did_you_mean(name, set(self.docs))}; "
                              "define it in a {% docs %} block of a .md file")
                return ""
            return self.docs[name]

        def run_query(sql: str) -> AgateLikeTable | None:
            self._mark_runtime()
            if self.con is None:
                return None          # compile time: dbt's `execute` is false here as well
            cur = self.con.execute(str(sql))
            names = [d[0] for d in cur.description or []]
            return AgateLikeTable(names, cur.fetchall() if names else [])

        results: dict[str, Any] = {}

        def statement(name: str | None = None, fetch_result: bool = False, auto_begin: bool = True,
                      language: str = "sql", caller: Callable | None = None) -> str:
            """``{% call statement('x', fetch_result=True) %} sql {% endcall %}`` then ``load_result('x')``."""
            sql = caller() if caller else ""
            table = run_query(sql)
            if name:
                results[name] = None if table is None else \
                    {"data": [tuple(r) for r in table.rows], "table": table, "response": "OK"}
            return ""

        return {
            "statement": statement, "load_result": lambda name: results.get(name),
            "should_store_failures": lambda: bool((st["model"].get("config") or {}).get("store_failures")),
            "should_full_refresh": lambda: bool((st["model"].get("config") or {}).get("full_refresh")),
            "get_where_subquery": lambda relation: relation,
            "ref": ref, "source": source, "config": _Config(config, st), "var": var, "env_var": env_var,
            "is_incremental": lambda: st["incremental"], "this": _This(st),
            "target": _Target(self), "return": do_return, "log": dbt_log, "doc": doc,
            "exceptions": _Exceptions(), "adapter": _Adapter(self), "run_query": run_query,
            "execute": _Execute(self), "modules": _Modules(), "local_md5": lambda s: hashlib.md5(str(s).encode()).hexdigest(),
            "tojson": lambda o, **k: json.dumps(o, default=str), "fromjson": lambda s, default=None: json.loads(s) if s else default,
            "toyaml": lambda o, **k: yaml.safe_dump(o), "fromyaml": lambda s, default=None: yaml.safe_load(s) if s else default,
            "zip": zip, "set": set, "set_strict": set, "print": lambda *a: "",
            "flags": _Flags(), "invocation_id": "kontor", "graph": _Graph(self),
            "run_started_at": datetime.datetime.now(datetime.timezone.utc), "model": _Model(st),
            "project_name": self.root_package, "builtins": {"ref": ref, "source": source, "config": config},
            "dbt_version": "1.9.0", "api": _Api(),
        }

    # -- rendering -------------------------------------------------------------------------------

    # Jinja's compiled code of each model, kept on disk (jinja2's bytecode cache, under target/)
    # while the model's text is unchanged: compiling 200 templates took as long as rendering them.
    bytecode_cache: "jinja2.BytecodeCache | None" = None

    def render(self, raw: str, file: str, this: str, is_incremental: bool = False,
               node: Mapping[str, Any] | None = None) -> Rendered:
        def run() -> str:
            code = self._compile(dbt_jinja(raw), file)
            return jinja2.Template.from_code(self.env, code, self.env.make_globals(None)).render()
        return self._rendering(run, raw, file, this, is_incremental, node)

    def _compile(self, source: str, file: str):
        if self.bytecode_cache is None:
            return self.env.compile(source, name=file, filename=file)
        bucket = self.bytecode_cache.get_bucket(self.env, file, file, source)
        if bucket.code is None:
            bucket.code = self.env.compile(source, name=file, filename=file)
            try:
                self.bytecode_cache.set_bucket(bucket)
            except OSError:      # a cache that cannot be written costs time, never the run
                pass
        return bucket.code

    def call(self, macro: MacroCall, file: str, kwargs: Mapping[str, Any], node: Mapping[str, Any] | None = None) -> Rendered:
        """A macro called with Python values (a generic test with its arguments), as a render."""
        return self._rendering(lambda: str(macro(**kwargs)), "", file, "", False, node)

    def _relation_texts(self, out: Rendered) -> set[str]:
        """The text of every relation ``ref()``/``source()`` rendered into ``out``."""
        texts = {str(Relation.parse(self.relations.get(name, name))) for name in out.refs}
        for key in out.sources:
            relation = self.source_relations.get(key) if self.dbt_mode else None
            if relation is not None and not hasattr(relation, "relation"):
                texts.add(str(Relation.parse(relation)))
        return texts

    def _rendering(self, run: Callable[[], str], raw: str, file: str, this: str, is_incremental: bool,
                   node: Mapping[str, Any] | None) -> Rendered:
        out = Rendered(sql="")
        previous = dict(self._state)      # a macro may render another node (nested calls)
        self._state.update(out=out, raw=raw, file=file, this=Relation.parse(this) if this else Relation("", ""),
                           incremental=is_incremental, model=dict(node or {}), package=None)
        try:
            out.sql = _unglued(run(), self._relation_texts(out))
        except jinja2.TemplateSyntaxError as exc:
            out.problems.append(Problem(exc.filename or file, exc.lineno, f"Jinja syntax error: {exc.message}"))
        except _Return as ret:                 # return() at the top level of a model: its value is the SQL
            out.sql = str(ret.value)
        except Exception as exc:  # noqa: BLE001 - an error raised inside a macro, a filter or the project
            try:    # template lines for the frames (Jinja does this itself only inside Template.render)
                exc = rewrite_traceback_stack() or exc
            except Exception:  # noqa: BLE001 - keep the original traceback
                pass
            where, line = _template_line(exc, self.files | {file})
            kind = "" if isinstance(exc, CompilerError) else ("Jinja error: " if isinstance(exc, jinja2.TemplateError)
                                                              else "error while rendering: ")
            message = getattr(exc, "message", None) or str(exc)
            suffix = f" (while rendering {file})" if where and where != file else ""
            out.problems.append(Problem(where or file, line, f"{kind}{message}{suffix}"))
        finally:
            self._state.clear()
            self._state.update(previous)
        return out


_GLUED = re.compile(r"(?i)\b(?:from|join)\w")


def _unglued(sql: str, relations: set[str]) -> str:
    """``FROM{{ ref('x') }}`` is valid in dbt, whose relation starts with a quote
    (``FROM"db"."main"."x"``); Kontor's ``main.x`` glued to the keyword is not: a space between."""
    if not _GLUED.search(sql):
        return sql
    for text in relations:
        if text and text[0] != '"':
            sql = re.sub(rf"(?i)\b(from|join)(?={re.escape(text)}(?![\w.]))", r"\1 ", sql)
    return sql


class _Config:
    """``config(...)`` sets; ``config.get('x', default)`` reads the node's config (dbt's API)."""

    def __init__(self, setter: Callable, state: dict):
        self._set, self._state = setter, state

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        return self._set(*args, **kwargs)

    def get(self, name: str, default: Any = None) -> Any:
        merged = {**self._state["model"].get("config", {}), **self._state["out"].config}
        return merged.get(name, default)

    require = get


class _This:
    """``this``: the relation of the model being rendered (dbt's Relation)."""

    def __init__(self, state: dict):
        self._state = state

    def _rel(self) -> Relation:
        return self._state["this"]

    def __str__(self) -> str:
        return str(self._rel())

    def __getattr__(self, item: str) -> Any:
        return getattr(self._rel(), item)

    def __add__(self, other: Any) -> str:
        return str(self) + str(other)

    def __radd__(self, other: Any) -> str:
        return str(other) + str(self)


class _Target(Mapping):
    """``target``: name, schema, type and threads of the profile's output."""

    def __init__(self, renderer: Renderer):
        self._r = renderer

    def _data(self) -> dict[str, Any]:
        base = {"name": "kontor", "type": "duckdb", "schema": self._r._state["this"].schema or "main",
                "database": "main", "threads": 1, "profile_name": "kontor"}
        return base | self._r.target

    def __getitem__(self, key: str) -> Any:
        return self._data()[key]

    def __getattr__(self, key: str) -> Any:
        try:
            return self._data()[key]
        except KeyError:
            raise AttributeError(key) from None

    def __iter__(self):
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())


class _Model(Mapping):
    """``model``: the node being rendered (name, resource_type, config, fqn ...)."""

    def __init__(self, state: dict):
        self._state = state

    def __getitem__(self, key: str) -> Any:
        return self._state["model"][key]

    def __getattr__(self, key: str) -> Any:
        try:
            return self._state["model"][key]
        except KeyError:
            raise AttributeError(key) from None

    def __iter__(self):
        return iter(self._state["model"])

    def __len__(self) -> int:
        return len(self._state["model"])


class _Execute:
    """``execute``: true only when SQL runs (dbt's parse phase sees false); Kontor renders with a
    connection at run time for models that query the warehouse."""

    def __init__(self, renderer: Renderer):
        self._r = renderer

    def __bool__(self) -> bool:
        if self._r.con is None:
            # What a template renders while `execute` is false (dbt_utils.union_relations returns ''
            # then) is not its SQL: rendered again with the warehouse when the model runs.
            self._r._mark_runtime()
            return False
        return True

    def __str__(self) -> str:
        return str(bool(self))


class _Graph(Mapping):
    """dbt's ``graph`` (the parsed manifest): ``graph.nodes`` (models, snapshots, seeds) and
    ``graph.sources`` as ``dbt_graph.build`` gives them. Read while the project is still being
    compiled, it marks the model to be rendered again at run time with the whole graph (dbt reads it
    when ``execute``). The other parts (tests, exposures, metrics, macros ...) are not given: an
    empty one would make a macro that reads it compute something else without a word, so reading
    it is refused at the line that reads it."""

    _KEYS = ("nodes", "sources", "exposures", "metrics", "groups", "semantic_models", "saved_queries",
             "unit_tests", "macros")
    _GIVEN = ("nodes", "sources")

    def __init__(self, renderer: Renderer):
        self._r = renderer

    def __getitem__(self, key: str) -> Any:
        if key in self._GIVEN and self._r.graph is not None:
            built, complete = self._r.graph()
            if not complete:
                self._r._mark_runtime()
            return built[key]
        raise CompilerError(f"graph.{key} (that part of dbt's parsed manifest) is not available on Kontor "
                            "(graph.nodes holds the models, snapshots and seeds, graph.sources the sources; "
                            "not the tests): a macro that reads it would compute something else here, so it is "
                            "refused; fix: do without it (for dbt-unit-testing's mocks: dbt's own unit_tests:, "
                            "which Kontor runs)")

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self._KEYS else default

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        return self[key]

    def __iter__(self):
        return iter(self._KEYS)

    def __len__(self) -> int:
        return len(self._KEYS)


class _Flags:
    FULL_REFRESH = False
    WHICH = "build"          # a Kontor run builds models and runs their tests, as `dbt build`
    STORE_FAILURES = False

    def __getattr__(self, item: str) -> Any:
        return None


class _Api:
    """``api.Column.translate_type('string')`` and ``api.Relation.create(...)``, DuckDB's names."""

    class Column:
        TYPES = {"string": "VARCHAR", "text": "VARCHAR", "float": "FLOAT", "integer": "INTEGER", "int": "INTEGER",
                 "bigint": "BIGINT", "timestamp": "TIMESTAMP", "boolean": "BOOLEAN", "numeric": "NUMERIC"}

        @classmethod
        def translate_type(cls, name: str) -> str:
            return cls.TYPES.get(str(name).lower(), str(name))

        @classmethod
        def create(cls, name: str, data_type: str) -> "_Column":
            return _Column(name, data_type)

    class Relation:
        @staticmethod
        def create(database: Any = None, schema: str = "", identifier: str = "", **kwargs: Any) -> Relation:
            return Relation(schema or "", identifier or "")

        @staticmethod
        def add_ephemeral_prefix(name: str) -> str:
            return "__dbt__cte__" + str(name)


class _Modules:
    """``modules``: the Python modules dbt exposes to Jinja."""

    def __init__(self):
        import itertools
        import random
        import re as re_module

        self.datetime, self.re, self.itertools, self.random = datetime, re_module, itertools, random
        try:
            import pytz
            self.pytz = pytz
        except ImportError:  # pragma: no cover - pytz comes with pandas
            self.pytz = None


class _Adapter:
    """``adapter``: dispatch to ``duckdb__``/``default__`` implementations, quoting, columns."""

    def __init__(self, renderer: Renderer):
        self._r = renderer

    def dispatch(self, macro_name: str, macro_namespace: str | None = None) -> MacroCall:
        r = self._r
        root = r.root_package or "__root__"
        packages = [root if macro_namespace in (None, r.root_package) else macro_namespace, "dbt"]
        order = r.dispatch_order.get(macro_namespace or "")
        if order:               # dbt_project.yml dispatch: search_order for this namespace
            packages = [root if p == r.root_package else p for p in order] + ["dbt"]
        for package in packages:
            for prefix in ("duckdb__", "default__"):
                found = r.namespaces.get(package, {}).get(prefix + macro_name)
                if found is not None:
                    return found
        raise CompilerError(f"adapter.dispatch: no duckdb__{macro_name} or default__{macro_name} in "
                            f"{macro_namespace or 'the project'} (nor in dbt's own macros)")

    def quote(self, name: str) -> str:
        return exp.to_identifier(str(name), quoted=True).sql("duckdb")

    def get_columns_in_relation(self, relation: Any) -> list:
        con = self._r.con
        self._r._mark_runtime()
        if con is None:
            return []
        rel = Relation.parse(str(relation))
        rows = con.execute(template(__file__, "relation_columns"), [rel.schema or "main", rel.identifier]).fetchall()
        return [_Column(n, t) for n, t in rows]

    def get_relation(self, database: Any = None, schema: str = "", identifier: str = "") -> Relation | None:
        con = self._r.con
        self._r._mark_runtime()
        if con is None:
            return None
        row = con.execute(template(__file__, "relation_exists"), [schema, identifier]).fetchone()
        return Relation(schema, identifier) if row else None

    def load_relation(self, relation: Any) -> Relation | None:
        rel = Relation.parse(str(relation))
        return self.get_relation(None, rel.schema, rel.identifier)

    def type(self) -> str:
        return "duckdb"


@dataclass
class _Column:
    """dbt's ``Column`` (dbt-duckdb's ``DuckDBColumn``) as ``get_columns_in_relation`` returns it:
    ``dtype`` as DuckDB describes it, ``data_type`` as dbt renders it (a string column is
    ``character varying(256)``), the ``is_*`` tests on dbt's lists of type names."""

    column: str
    dtype: str
    char_size: int | None = None
    numeric_precision: Any = None
    numeric_scale: Any = None

    _FLOATS = {"real", "float", "float4", "float8", "double"}
    _INTEGERS = {"tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint", "usmallint", "uinteger",
                 "ubigint", "int1", "int2", "int4", "int8", "short", "int", "signed", "long"}

    @property
    def name(self) -> str:
        return self.column

    @property
    def quoted(self) -> str:
        return exp.to_identifier(self.column, quoted=True).sql("duckdb")

    @property
    def data_type(self) -> str:
        if self.is_string():
            return self.string_type(self.string_size())
        if self.is_numeric() and self.numeric_precision is not None and self.numeric_scale is not None:
            return f"{self.dtype}({self.numeric_precision},{self.numeric_scale})"
        return self.dtype

    expanded_data_type = data_type

    def is_string(self) -> bool:
        return self.dtype.lower() in ("text", "character varying", "character", "varchar")

    def is_float(self) -> bool:
        return self.dtype.lower() in self._FLOATS

    def is_integer(self) -> bool:
        return self.dtype.lower() in self._INTEGERS

    def is_numeric(self) -> bool:
        return self.dtype.lower() in ("numeric", "decimal")

    def is_number(self) -> bool:
        return self.is_integer() or self.is_numeric() or self.is_float()

    def is_struct(self) -> bool:
        return self.dtype.lower().startswith("struct")

    def string_size(self) -> int:
        if not self.is_string():
            raise CompilerError("Called string_size() on non-string field!")
        return 256 if self.dtype == "text" or self.char_size is None else int(self.char_size)

    def can_expand_to(self, other: "_Column") -> bool:
        return self.is_string() and other.is_string() and other.string_size() > self.string_size()

    def literal(self, value: Any) -> str:
        return f"{value}::{self.data_type}"

    @classmethod
    def string_type(cls, size: int) -> str:
        return f"character varying({size})"

    @classmethod
    def numeric_type(cls, dtype: str, precision: Any, scale: Any) -> str:
        return dtype if precision is None or scale is None else f"{dtype}({precision},{scale})"
