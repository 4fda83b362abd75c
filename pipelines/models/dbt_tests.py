"""dbt tests as quality gates: every ``data_tests:``/``tests:`` entry and every singular test
becomes a rule of the asset's gate, run by the gate machinery (``pipelines/quality``) as a
blocking Dagster asset check.

A dbt test is a query returning failing rows (dbt's own definition); here it is rendered once
with the project's Jinja (generic tests are ``{% test %}`` macros: dbt's four built in, a
package's such as ``dbt_utils.expression_is_true``, or the project's own) and judged by Great
Expectations' ``unexpected_rows_expectation``. dbt's status rules map onto it:

- ``severity: error`` (default): an error rule whose query returns the failing rows when
  ``<fail_calc> <error_if>`` holds (``count(*) != 0`` by default); it blocks downstream assets;
- ``warn_if`` (and ``severity: warn``): a warn rule on ``<fail_calc> <warn_if>``, blocking nothing;
  with both the default thresholds one rule is enough;
- ``where``/``limit`` wrap the model and the result as dbt does; ``store_failures`` writes the
  failing rows to ``<target schema>_dbt_test__audit.<test name>``, as dbt does.

Check names are dbt's test names (``not_null_orders_order_id``), so outcomes compare one to one.
"""
from __future__ import annotations

import ast
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp

from pipelines.core.errors import KontorError, Problem
from pipelines.core.sql import render, template, verbatim
from pipelines.models.compile import CompiledProject
from pipelines.models.project import TestDecl
from pipelines.models.render import ExternalRelation, Relation
from pipelines.quality.spec import Rule, Suite
from pipelines.core.errors import did_you_mean

TEST_CONFIGS = {"severity", "warn_if", "error_if", "fail_calc", "store_failures", "store_failures_as", "where",
                "limit", "enabled", "tags", "meta", "alias", "schema", "database"}
_THRESHOLD = re.compile(r"^\s*(==|=|!=|<>|>=|<=|>|<)\s*(-?\d+(\.\d+)?)\s*$")
_JINJA_ARG = re.compile(r"^\s*(ref|source)\s*\(.*\)\s*$", re.S)


@dataclass(frozen=True)
class DbtSuite(Suite):
    """A gate on a relation whose name is not its asset key's (an alias, a seed's schema)."""

    table_relation: str = ""

    @property
    def relation(self) -> str:
        return self.table_relation or super().relation


@dataclass
class DbtTest:
    name: str
    asset: str                      # "<schema>/<name>" of the node it tests
    relation: str
    sql: str
    config: dict[str, Any]
    file: str
    line: int
    refs: list[str] = field(default_factory=list)
    table_name: str = ""          # store_failures: dbt's relation name for it
    deps: list[str] = field(default_factory=list)       # asset keys of the other nodes it reads
    # its Jinja asked the warehouse or `execute` (dbt_utils.equality, dbt_expectations' column
    # tests): () -> the Rendered of it again, called with the warehouse when it is judged
    again: Any = field(default=None, repr=False, compare=False)

    @property
    def severity(self) -> str:
        return str(self.config.get("severity", "error")).lower()

    @property
    def store_failures(self) -> bool:
        return bool(self.config.get("store_failures")) or self.config.get("store_failures_as") in ("table", "view")


def test_name(test: str, namespace: str | None, node: str, args: dict[str, Any], short: bool = False) -> str:
    """dbt's name for a generic test (``synthesize_generic_test_names``); ``short``: the name of its
    relation (store_failures), where names of 64 characters and more are hashed.

    >>> test_name("relationships", None, "orders", {"column_name": "customer_id", "to": "ref('customers')", "field": "id"})
    'relationships_orders_customer_id__id__ref_customers_'
    """
    flat: list[str] = []
    for key in sorted(args):
        value = args[key]
        parts = list(value.values()) if isinstance(value, dict) else list(value) if isinstance(value, (list, tuple)) else [value]
        flat += [str(p) for p in parts]
    unique = "__".join(re.sub(r"[^0-9a-zA-Z_]+", "_", a) for a in flat)
    ident = f"{namespace}_{test}" if namespace else test
    full = f"{ident}_{node}_{unique}"
    if short and len(full) >= 64:
        return f"{ident[:30]}_{hashlib.md5(full.encode()).hexdigest()}"
    return full


def _split(decl: TestDecl) -> tuple[str | None, dict[str, Any], str | None]:
    """(test name, its arguments, a custom name) of one entry: ``unique`` or ``{relationships: {...}}``."""
    spec = decl.spec
    if isinstance(spec, str):
        return spec, {}, None
    if isinstance(spec, dict) and len(spec) >= 1:
        if "test_name" in spec:
            args = {k: v for k, v in spec.items() if k not in ("test_name", "name")}
            return str(spec["test_name"]), args, spec.get("name")
        if len(spec) == 1:
            (name, args), = spec.items()
            args = dict(args or {})
            return str(name), args, args.pop("name", None)
    return None, {}, None


class TestBuilder:
    def __init__(self, compiled: CompiledProject):
        self.compiled = compiled
        self.renderer = compiled.renderer
        project = compiled.project
        self.tests_tree = project.dbt.configs.get("data_tests") if project.dbt is not None else {}
        self.target_schema = (project.target or {}).get("schema", "main")
        self.problems: list[Problem] = []

    def _project_config(self, test: str) -> dict[str, Any]:
        from pipelines.models.dbt import folder_config

        project = self.compiled.project
        if project.dbt is None:
            return {}
        return folder_config(self.tests_tree, project.dbt.name, [])

    def _arg(self, value: Any, decl: TestDecl, refs: list[str]) -> Any:
        """``to: ref('customers')`` and Jinja strings are rendered as dbt renders test arguments:
        natively, so ``"{{ var('codes') }}"`` of a list var is that list, ``"{{ 5 }}"`` a number
        (dbt's native_concat reads the rendered text as a Python literal where it is one)."""
        if isinstance(value, str) and (_JINJA_ARG.match(value) or "{{" in value):
            text = value if "{{" in value else "{{ " + value + " }}"
            rendered = self.renderer.render(text, decl.file, "")
            self.problems.extend(Problem(decl.file, decl.line, p.message) for p in rendered.problems)
            refs.extend(rendered.refs)
            out = rendered.sql.strip()
            try:
                return ast.literal_eval(out)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                return out
        if isinstance(value, list):
            return [self._arg(v, decl, refs) for v in value]
        return value

    def generic(self, decl: TestDecl, node: str, asset: str, relation: str, prefix: str = "",
                model: Relation | None = None) -> DbtTest | None:
        """``model``: what the test's ``model`` argument renders as, when not ``relation`` (a source
        read in place: its location, the gate's ``relation`` a view over it)."""
        test, args, custom = _split(decl)
        if test is None:
            self.problems.append(Problem(decl.file, decl.line, "a test is a name (unique) or a mapping "
                                         "{test_name: {arguments}}"))
            return None
        namespace, _, short = test.rpartition(".")
        macro = self.renderer.macro(f"test_{short}", namespace or None)
        # dbt parses a test of a package that is not installed and errors it alone when it runs
        # ("'dbt_utils' is undefined"), the rest of the project builds: so here (below)
        missing = macro is None and bool(namespace) and namespace not in self.renderer.namespaces \
            and self.compiled.project.dbt is not None
        if macro is None and not missing:
            known = {m.removeprefix("test_") for ns in self.renderer.namespaces.values() for m in ns if m.startswith("test_")}
            self.problems.append(Problem(decl.file, decl.line, f"unknown test {test!r}{did_you_mean(short, known)}"
                                         + ("; fix: install the package under dbt_packages/" if namespace else "")))
            return None
        args = dict(args)
        config = {**self._project_config(test), **dict(args.pop("config", None) or {})}
        config.update({k: args.pop(k) for k in list(args) if k in TEST_CONFIGS})   # dbt's legacy top-level form
        args.update(args.pop("arguments", None) or {})
        for key in config:
            if key not in TEST_CONFIGS:
                self.problems.append(Problem(decl.file, decl.line, f"unknown test config {key!r}{did_you_mean(key, TEST_CONFIGS)}"))
        naming = dict(args) | ({"column_name": decl.column} if decl.column else {})
        name = str(custom) if custom else prefix + test_name(short, namespace or None, node, naming)
        if missing:
            message = (f"test {test!r}: package {namespace!r} is not installed under dbt_packages/, so this test "
                       "errors when it runs (as in dbt); fix: install the package (dbt deps)")
            if Problem(decl.file, decl.line, message) not in self.compiled.project.warnings:
                self.compiled.project.warnings.append(Problem(decl.file, decl.line, message))
            sql = exp.select(exp.func("error", exp.Literal.string(f"{decl.file}:{decl.line}: {message}"))).sql("duckdb")
            return DbtTest(name, asset, relation, sql, config, decl.file, decl.line, [],
                           prefix + test_name(short, namespace, node, naming, short=True))
        refs: list[str] = []
        kwargs = {k: self._arg(v, decl, refs) for k, v in args.items()}
        if decl.column:
            kwargs["column_name"] = f'"{decl.column}"' if decl.column_quote else decl.column
        model = model if model is not None else Relation.parse(relation)
        if config.get("where"):
            model = _Where(_subquery(exp.select("*").from_(verbatim(str(model))).where(verbatim(str(config["where"]))),
                                     "dbt_subquery").sql(dialect="duckdb"), model)
        node_ = self._node(name, decl.file, config)
        rendered = self.renderer.call(macro, decl.file, kwargs | {"model": model}, node=node_)
        if rendered.problems:
            self.problems.extend(rendered.problems)
            return None
        test = DbtTest(name, asset, relation, rendered.sql.strip(), config, decl.file, decl.line, refs + rendered.refs,
                       str(custom) if custom else prefix + test_name(short, namespace or None, node, naming, short=True))
        if rendered.runtime:
            test.again = lambda: self.renderer.call(macro, decl.file, kwargs | {"model": model}, node=node_)
        return test

    def _source_asset(self, key: tuple[str, str]) -> tuple[str, str] | None:
        return _source_relation_asset(self.compiled, key)

    def _node(self, name: str, file: str, config: dict) -> dict:
        """dbt's ``model`` while a test renders: the test node (a package's macros read its
        ``package_name``, ``unique_id`` ...)."""
        package, tags = self.renderer.root_package, config.get("tags") or []
        return {"name": name, "resource_type": "test", "config": config, "package_name": package,
                "unique_id": f"test.{package}.{name}", "original_file_path": file, "path": file,
                "fqn": [package, name], "tags": [tags] if isinstance(tags, str) else list(tags)}

    def singular(self, path: Path, display: str) -> DbtTest | None:
        raw = path.read_text(encoding="utf-8")
        rendered = self.renderer.render(raw, display, "",
                                        node=self._node(path.stem, display, self._project_config(path.stem)))
        if rendered.problems:
            self.problems.extend(rendered.problems)
            return None
        nodes = [r for r in rendered.refs if r in self.compiled.models or r in self.compiled.project.seeds]
        if not nodes:
            # a test of sources only (dbt runs it too): on the first source's builder or external asset
            found = next(filter(None, (self._source_asset(key) for key in rendered.sources)), None)
            if found is None:
                self.problems.append(Problem(display, None, "a singular test must ref() the model it tests (or "
                                             "read a source that is a table of the warehouse)"))
                return None
            asset, relation = found
        else:
            # dbt ties a singular test to no node in particular: it runs once all it reads is built.
            # It belongs here to the node it reads that is built last (a seed before every model).
            rank = {n: i for i, n in enumerate(self.compiled.order)}
            asset, relation = _asset(self.compiled, max(nodes, key=lambda n: rank.get(n, -1)))
        config = {**self._project_config(path.stem), **rendered.config}
        test = DbtTest(path.stem, asset, relation, rendered.sql.strip(), config, display, 1, nodes)
        if rendered.runtime:
            node = self._node(path.stem, display, self._project_config(path.stem))
            test.again = lambda: self.renderer.render(raw, display, "", node=node)
        return test


def in_place_view(source: str, table: str) -> str:
    """The temporary view a test of a source read in place (``external_location``) is gated on:
    dbt's test reads the files; the gate needs a relation to describe."""
    return "kontor.__source__" + re.sub(r"\W", "_", f"{source}__{table}")


def in_place_views(compiled: CompiledProject) -> dict[str, tuple[str, str]]:
    """view name -> (the statement creating it, the one dropping it), one per tested in-place source."""
    out = {}
    for src, table, _ in compiled.project.source_tests:
        relation = compiled.project.dbt_sources.get((src, table))
        if hasattr(relation, "relation"):
            view = exp.table_(in_place_view(src, table).split(".")[1], db="kontor", quoted=True)
            out[in_place_view(src, table)] = (
                render(template(__file__, "in_place_view"), view=view, location=verbatim(str(relation))),
                render(template(__file__, "drop_in_place_view"), view=view.copy()))
    return out


def _source_relation_asset(compiled: CompiledProject, key: tuple[str, str]) -> tuple[str, str] | None:
    """(asset, relation) of a dbt source: the seed or model that builds it, else its external
    asset (a table something outside the project fills); None for a source read in place."""
    from pipelines.models.stage import external_sources

    relation = compiled.project.dbt_sources.get(key)
    if relation is None or hasattr(relation, "relation") or hasattr(relation, "database"):
        return None
    builders = {seed.relation: name for name, seed in compiled.project.seeds.items()}
    builders |= {cm.model.relation: name for name, cm in compiled.models.items()}
    node = builders.get(str(Relation.parse(relation))) or builders.get(relation)
    if node is not None:
        return _asset(compiled, node)
    external = {names: asset for asset, (_, declared) in external_sources(compiled).items() for names in declared}
    return (external[key], str(relation)) if key in external else None


class _Where(str):
    """The model argument of a test with a ``where`` config: dbt's subquery, with the relation's attributes."""

    def __new__(cls, text: str, relation: Relation):
        obj = super().__new__(cls, text)
        obj.schema, obj.identifier, obj.name, obj.database = relation.schema, relation.identifier, relation.identifier, None
        return obj


def _asset(compiled: CompiledProject, node: str) -> tuple[str, str]:
    if node in compiled.models:
        model = compiled.models[node].model
        return f"{model.schema}/{model.name}", model.relation
    seed = compiled.project.seeds[node]
    return f"{seed.schema}/{seed.name}", seed.relation


def collect_tests(compiled: CompiledProject, display=lambda p: str(p)) -> tuple[list[DbtTest], list[Problem]]:
    """Every test of the project, rendered; disabled ones left out; problems at their lines."""
    from pipelines.models.stage import external_sources

    builder = TestBuilder(compiled)
    tests: list[DbtTest] = []
    nodes = [(name, cm.model.properties) for name, cm in compiled.models.items()]
    nodes += [(name, seed.properties) for name, seed in compiled.project.seeds.items()]
    for name, props in nodes:
        if name in compiled.models and compiled.models[name].materialized == "ephemeral" and props.tests:
            builder.problems.append(Problem(props.tests[0].file, props.tests[0].line, f"{name} is ephemeral: "
                                            "there is no relation to test (dbt refuses this too); fix: test a model that refs it"))
            continue
        asset, relation = _asset(compiled, name)
        for decl in props.tests:
            test = builder.generic(decl, name, asset, relation)
            if test is not None:
                tests.append(test)
    # Tests on a source run on the seed or model of the project that builds its relation, or on
    # the source's own external asset when nothing here builds it (an EL tool or a loader script
    # filled it): judged before the models reading it, as dbt build runs them.
    builders = {seed.relation: name for name, seed in compiled.project.seeds.items()}
    builders |= {cm.model.relation: name for name, cm in compiled.models.items()}
    external = {names: asset for asset, (_, declared) in external_sources(compiled).items() for names in declared}
    for src, table, decl in compiled.project.source_tests:
        relation = compiled.project.dbt_sources[(src, table)]
        model = None
        if hasattr(relation, "relation"):       # dbt-duckdb's external_location: the files, read in place
            asset = external[(src, table)]
            model = ExternalRelation(str(relation), relation.relation)
            relation = in_place_view(src, table)
        elif (node := builders.get(str(Relation.parse(relation))) or builders.get(relation)) is not None:
            asset, _ = _asset(compiled, node)
        elif (src, table) in external:
            asset = external[(src, table)]
        else:
            builder.problems.append(Problem(decl.file, decl.line, f"test on source {src}.{table} ({relation}): "
                                            "it is not a relation Kontor can gate; fix: test the staging model "
                                            "that selects from it"))
            continue
        test = builder.generic(decl, f"{src}_{table}", asset, relation, prefix="source_", model=model)
        if test is not None:
            tests.append(test)
    for path in compiled.project.singular_tests:
        test = builder.singular(path, display(path))
        if test is not None:
            tests.append(test)
    tests = [t for t in tests if t.config.get("enabled", True) is not False]
    compiled.runtime_tests = {t.name: t for t in tests if t.again is not None}
    for t in tests:
        t.deps = list(dict.fromkeys(a for a, _ in (_asset(compiled, r) for r in t.refs
                                                   if r in compiled.models or r in compiled.project.seeds) if a != t.asset))
    seen: dict[str, DbtTest] = {}
    for t in tests:
        if t.name in seen:
            builder.problems.append(Problem(t.file, t.line, f"test name {t.name!r} is used twice (also "
                                            f"{seen[t.name].file}:{seen[t.name].line}); fix: give one a name:"))
        seen[t.name] = t
    for t in tests:
        for key in ("severity",):
            if t.severity not in ("error", "warn"):
                builder.problems.append(Problem(t.file, t.line, f"severity {t.config[key]!r}: use error or warn"))
        for key in ("warn_if", "error_if"):
            if key in t.config and not _THRESHOLD.match(str(t.config[key])):
                builder.problems.append(Problem(t.file, t.line, f"{key} {t.config[key]!r}: write a comparison "
                                                "such as '>10' or '!=0'"))
    return tests, builder.problems


def _gated(test: DbtTest, condition: str) -> str:
    """The failing rows when ``<fail_calc> <condition>`` holds, else none; GX's braces escaped."""
    calc = test.config.get("fail_calc", "count(*)")
    op, value = _THRESHOLD.match(condition).group(1, 2)
    op = {"==": "=", "<>": "!="}.get(op, op)
    # dbt's limit goes after the test's own SQL, inside the subquery (as dbt's get_test_sql puts it)
    limit = exp.Limit(expression=exp.Literal.number(int(test.config["limit"]))).sql(dialect="duckdb") \
        if test.config.get("limit") else ""
    failing = verbatim(f"{test.sql} {limit}" if limit else test.sql)
    calculated = exp.select(verbatim(calc)).from_(_subquery(failing.copy(), "dbt_internal_calc")).subquery()
    sql = exp.select("*").from_(_subquery(failing, "dbt_internal_test")) \
        .where(_COMPARE[op](this=calculated, expression=exp.Literal.number(value))).sql(dialect="duckdb")
    # GX wants the batch named in the query; the test's SQL names its relations itself.
    return sql.replace("{", "{{").replace("}", "}}") + " /* tests {batch} */"


_COMPARE = {"=": exp.EQ, "!=": exp.NEQ, "<": exp.LT, ">": exp.GT, "<=": exp.LTE, ">=": exp.GTE}


def _subquery(query: exp.Expression, alias: str) -> exp.Subquery:
    return exp.Subquery(this=query, alias=exp.TableAlias(this=exp.to_identifier(alias)))


def _rules(test: DbtTest) -> list[Rule]:
    warn_if = str(test.config.get("warn_if", "!=0"))
    error_if = str(test.config.get("error_if", "!=0"))
    meta = {"dbt_test": test.name, "deps": test.deps}
    description = f"dbt test {test.name} ({test.file}:{test.line})"
    rule = lambda name, cond, severity: Rule(  # noqa: E731 - three fields differ
        name=name, type="unexpected_rows_expectation", kwargs={"unexpected_rows_query": _gated(test, cond)},
        severity=severity, description=description, file=test.file, line=test.line, meta=meta)
    if test.severity == "warn":
        return [rule(test.name, warn_if, "warn")]
    rules = [rule(test.name, error_if, "error")]
    if warn_if != error_if:      # failures that warn without erroring: their own non-blocking check
        rules.append(rule(f"{test.name}__warn", warn_if, "warn"))
    return rules


def rendered_now(con, compiled: CompiledProject, gate):
    """``gate`` with the rules of its tests that query the warehouse (or read ``execute``) rendered
    again on ``con``, as dbt renders a test when it runs it; the gate itself when it has none."""
    from dataclasses import replace

    again = compiled.runtime_tests
    if not any(r.meta.get("dbt_test") in again for r in gate.suite.rules):
        return gate
    renderer = compiled.renderer
    rules = []
    for rule in gate.suite.rules:
        test = again.get(rule.meta.get("dbt_test"))
        if test is None:
            rules.append(rule)
            continue
        renderer.con = con
        try:
            rendered = test.again()
        finally:
            renderer.con = None
        if rendered.problems:
            raise KontorError("\n".join(str(p) for p in rendered.problems))
        fresh = replace(test, sql=rendered.sql.strip())
        condition = str(test.config.get("warn_if", "!=0")) if rule.name.endswith("__warn") or test.severity == "warn" \
            else str(test.config.get("error_if", "!=0"))
        rules.append(replace(rule, kwargs={**rule.kwargs, "unexpected_rows_query": _gated(fresh, condition)}))
    return replace(gate, suite=replace(gate.suite, rules=tuple(rules)))


def test_suites(tests: list[DbtTest]) -> list[DbtSuite]:
    by_asset: dict[str, list[DbtTest]] = {}
    for t in tests:
        by_asset.setdefault(t.asset, []).append(t)
    return [DbtSuite(asset=asset, file=ts[0].file, rules=tuple(r for t in ts for r in _rules(t)),
                     description=f"dbt tests of {asset}", table_relation=ts[0].relation)
            for asset, ts in by_asset.items()]


def store_failures_sql(test: DbtTest, target_schema: str) -> tuple[str, str]:
    """(schema, statement) writing the failing rows where dbt writes them."""
    schema = f"{target_schema}_dbt_test__audit"
    return schema, render(template(__file__, "store_failures"), query=verbatim(test.sql),
                          relation=exp.table_(test.table_name or test.name, db=schema, quoted=True))


def late_tests(compiled: CompiledProject, tests: list[DbtTest]) -> set[str]:
    """Tests that read a node downstream of the one they test (a relationships test from orders
    to customers, where customers refs orders). Blocking the tested node's children on them would
    be a cycle; dbt runs them after all their parents and blocks nothing with them."""
    from pipelines.models.stage import external_sources

    children: dict[str, set[str]] = {}
    for name, cm in compiled.models.items():
        for ref in cm.refs:
            children.setdefault(ref, set()).add(name)
    by_asset = {_asset(compiled, n)[0]: n for n in [*compiled.models, *compiled.project.seeds]}

    def descendants(node: str) -> set[str]:
        seen, todo = set(), [node]
        while todo:
            for child in children.get(todo.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
        return seen

    readers: dict[str, set[str]] = {}      # an external source's asset -> the models reading it
    external = {relation: asset for asset, (relation, _) in external_sources(compiled).items()}
    for name, cm in compiled.models.items():
        for src in cm.sources:
            if compiled.project.dbt_sources.get(src) in external:
                readers.setdefault(external[compiled.project.dbt_sources[src]], set()).add(name)
    late = set()
    for t in tests:
        if t.asset in by_asset:
            below = {_asset(compiled, n)[0] for n in descendants(by_asset[t.asset])}
        else:                   # a source nothing here builds: what reads it is below it
            nodes = readers.get(t.asset, set())
            below = {_asset(compiled, n)[0] for n in nodes.union(*(descendants(n) for n in nodes))}
        if below & set(t.deps):
            late.add(t.name)
    return late


def check_tests(compiled: CompiledProject, display=lambda p: str(p)) -> list[Problem]:
    """``kontor check`` for dbt's data tests and unit tests: every problem a run would raise."""
    from pipelines.models.dbt_unit import collect_unit_tests

    return collect_tests(compiled, display)[1] + collect_unit_tests(compiled)[1]
