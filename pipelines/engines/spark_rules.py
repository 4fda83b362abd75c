"""DuckDB SQL as Spark SQL: sqlglot's transpiler plus Kontor's rules for what it gets wrong.

Each rule is a function on one sqlglot node of a query parsed in DuckDB's dialect; it returns the
node Spark needs or the node unchanged. sqlglot then writes Spark SQL. The rules exist because the
plain transpilation runs and gives other results (silently), or fails on Spark:

>>> to_spark("select isodow(d) from t")
'SELECT EXTRACT(DAYOFWEEK_ISO FROM d) FROM t'
>>> to_spark("select l[-2:] from t")
'SELECT FILTER(l, (__kx, __ki) -> __ki + 1 >= SIZE(l) + -2 + 1) FROM t'

What no rule can translate raises ``Untranslatable`` naming the construct; ``kontor check`` turns
it into ``file:line``.
"""
from __future__ import annotations

import sqlglot
from sqlglot import exp


class Untranslatable(ValueError):
    """A DuckDB construct Kontor cannot run on Spark; ``node`` is where it is."""

    def __init__(self, message: str, node: exp.Expression | None = None):
        super().__init__(message)
        self.node = node


def _spark(template: str, **parts: exp.Expression) -> exp.Expression:
    """A Spark expression from a template whose ``__name`` placeholders become ``parts``."""
    tree = sqlglot.parse_one(template, read="spark")

    def fill(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name.startswith("__p_"):
            return parts[node.name.removeprefix("__p_")].copy()
        return node
    return tree.transform(fill)


def _double(node: exp.Expression) -> exp.Expression:
    return exp.cast(node, exp.DataType.build("double"))


def generate_series(node: exp.Expression) -> exp.Expression:
    """``FROM x, generate_series(a, b, interval 1 day) AS s(d)`` is a table function in DuckDB;
    Spark explodes a ``sequence`` laterally. DuckDB's series over dates is of TIMESTAMPs, so the
    bounds are cast to TIMESTAMP when the step is an interval (sqlglot writes ``_u(series)``,
    which Spark cannot parse)."""
    if not (isinstance(node, exp.Table) and isinstance(node.this, exp.GenerateSeries)):
        return node
    series = node.this
    if series.args.get("is_end_exclusive"):
        raise Untranslatable("range(...) (end-exclusive series) is not translated to Spark; write generate_series", node)
    step = series.args.get("step")
    start, end = series.args["start"].copy(), series.args["end"].copy()
    if isinstance(step, exp.Interval):
        start, end = (exp.cast(v, exp.DataType.build("timestamp")) for v in (start, end))
    args = [start, end] + ([step.copy()] if step is not None else [])
    alias = node.args.get("alias")
    lateral = exp.Lateral(this=exp.Explode(this=exp.Anonymous(this="SEQUENCE", expressions=args)),
                          alias=alias.copy() if alias else exp.TableAlias(this=exp.to_identifier("generate_series")))
    return lateral


def iso_calendar(node: exp.Expression) -> exp.Expression:
    """DuckDB's ``isodow`` (sqlglot writes ``(DAYOFWEEK(d) % 7) + 1``: Sunday 2, Saturday 1),
    ``isoyear`` and ``week`` (no such functions in Spark), ``dayofweek``/``weekday`` (DuckDB:
    Sunday 0; Spark's ``dayofweek``: Sunday 1, its ``weekday``: Monday 0)."""
    if isinstance(node, exp.DayOfWeekIso):
        return _spark("EXTRACT(DAYOFWEEK_ISO FROM __p_d)", d=node.this)
    if isinstance(node, (exp.Week, exp.WeekOfYear)):
        return exp.Anonymous(this="WEEKOFYEAR", expressions=[node.this.copy()])
    if isinstance(node, exp.DayOfWeek):
        return _spark("(DAYOFWEEK(__p_d) - 1)", d=node.this)
    if isinstance(node, exp.Anonymous) and node.name.lower() in ("isoyear", "weekday"):
        (arg,) = node.expressions
        if node.name.lower() == "isoyear":
            return _spark("EXTRACT(YEAROFWEEK FROM __p_d)", d=arg)
        return _spark("(DAYOFWEEK(__p_d) - 1)", d=arg)
    return node


def decimal_division(node: exp.Expression) -> exp.Expression:
    """DuckDB's ``/`` is a DOUBLE division whatever the operands (DECIMAL / DECIMAL too); Spark
    keeps DECIMAL / DECIMAL a DECIMAL, rounded to its own scale. Both operands become DOUBLE.
    (Division by zero: DuckDB gives ±inf, Spark's ANSI mode fails the query: loud, not silent.)"""
    if not isinstance(node, exp.Div) or node.args.get("typed") or node.meta.get("kontor_double"):
        return node
    if any(isinstance(side, exp.Interval) for side in (node.this, node.expression)):
        return node
    out = exp.Div(this=_double(node.this.copy()), expression=_double(node.expression.copy()))
    out.meta["kontor_double"] = True
    return out


def _index_bound(value: exp.Expression | None, size: exp.Expression, default: exp.Expression) -> exp.Expression:
    if value is None:
        return default
    if (isinstance(value, exp.Neg) and isinstance(value.this, exp.Literal) and value.this.is_int) \
            or (isinstance(value, exp.Literal) and value.is_int):
        literal = int(value.sql()) if not isinstance(value, exp.Neg) else -int(value.this.sql())
        return exp.Add(this=exp.Add(this=size.copy(), expression=exp.Literal.number(literal)),
                       expression=exp.Literal.number(1)) if literal < 0 else exp.Literal.number(literal)
    return _spark("CASE WHEN __p_v < 0 THEN __p_n + __p_v + 1 ELSE __p_v END", v=value, n=size)


def list_index(node: exp.Expression) -> exp.Expression:
    """DuckDB lists: ``l[a:b]`` is 1-based and inclusive with negative positions from the end
    (``l[-2:]`` the last two; sqlglot writes ``l[-2:]``, which Spark cannot parse); ``l[-1]`` is
    the last element (sqlglot writes ``l[-2]``); an index past the end is NULL (Spark's ANSI mode
    fails). Strings are sliced the same way in DuckDB: a slice of a string column is not known
    here and becomes a list slice, which Spark rejects (loud)."""
    if not isinstance(node, exp.Bracket) or len(node.expressions) != 1:
        return node
    index = node.expressions[0]
    if isinstance(index, exp.Slice):
        arr = node.this
        size = exp.Anonymous(this="SIZE", expressions=[arr.copy()])
        low = _index_bound(index.this, size, exp.Literal.number(1))
        high = _index_bound(index.expression, size, size)
        conditions = []
        if index.this is not None:
            conditions.append("__ki + 1 >= __p_lo")
        if index.expression is not None:
            conditions.append("__ki + 1 <= __p_hi")
        if not conditions:
            return arr.copy()
        return _spark(f"FILTER(__p_arr, (__kx, __ki) -> {' AND '.join(conditions)})", arr=arr, lo=low, hi=high)
    if isinstance(index, exp.Literal) and index.is_string:
        return node                                           # a struct field or a map key
    if isinstance(index, exp.Literal) or (isinstance(index, exp.Neg) and isinstance(index.this, exp.Literal)):
        # sqlglot's DuckDB parser stores a literal index 0-based (l[-1] as -2): DuckDB's own back
        index = exp.Literal.number(int(index.sql()) + 1) if isinstance(index, exp.Literal) else \
            exp.Literal.number(-int(index.this.sql()) + 1)
    return exp.Anonymous(this="TRY_ELEMENT_AT", expressions=[node.this.copy(), index.copy()])


_LIST_MAKERS = (exp.Split, exp.Array, exp.ArrayAgg, exp.RegexpSplit, exp.StringToArray, exp.Filter, exp.ArrayFilter,
                exp.RegexpExtractAll)


def _makes_list(node: exp.Expression) -> bool:
    return isinstance(node, _LIST_MAKERS) or (isinstance(node, exp.Bracket) and isinstance(node.expressions[0], exp.Slice)) \
        or (isinstance(node, exp.Anonymous) and node.name.upper() in ("FILTER", "SEQUENCE", "SLICE"))


def list_names(tree: exp.Expression) -> frozenset[str]:
    """Names the query gives to lists (``string_split(...) as tok``, in any of its scopes): a
    ``len(tok)`` or ``t.tok[...]`` elsewhere in it is a list. A string column of the same name
    would be sized as a list, which Spark refuses (loud, not silent)."""
    return frozenset(a.alias for a in tree.find_all(exp.Alias) if a.alias and _makes_list(a.this))


def list_length(node: exp.Expression, lists: frozenset[str] = frozenset()) -> exp.Expression:
    """``len(list)`` in DuckDB; sqlglot writes ``LENGTH``, which Spark has for strings only.
    Known as a list when the argument makes one (``string_split``, a slice, ``list``) or is a
    column the query named for a list (:func:`list_names`)."""
    if not isinstance(node, exp.Length):
        return node
    arg = node.this
    if _makes_list(arg) or (isinstance(arg, exp.Column) and arg.name in lists):
        return exp.Anonymous(this="ARRAY_SIZE", expressions=[arg.copy()])    # NULL for NULL, as len; SIZE gives -1 without ANSI
    return node


def _is_damerau_levenshtein(node: exp.Expression) -> bool:
    return isinstance(node, exp.Anonymous) and node.name.lower() == "damerau_levenshtein" and len(node.expressions) == 2


def _is_one(node: exp.Expression) -> bool:
    return isinstance(node, exp.Literal) and not node.is_string and node.this == "1"


def damerau_levenshtein_one(node: exp.Expression) -> exp.Expression:
    """``damerau_levenshtein(a, b) = 1`` (one typo: the legal-form split's test of every distinct
    name tail against the legal forms of about its length) in Spark's own functions instead of
    Kontor's Python UDF (``kontor_functions``), which runs row by row in a Python worker and made
    that one statement most of the standardise step on Spark. Exactly one edit is one insertion,
    deletion or substitution (Spark's ``levenshtein`` = 1, on code points as DuckDB's) or one swap
    of two adjacent, different characters (equal lengths, the swap gives ``b``); NULL in, NULL out.
    A swap is two substitutions, so only a pair at Levenshtein distance 2 is tried for one: the
    swap test is a lambda, which Spark interprets row by row (most of the split's CPU on Spark when
    every pair of equal length tried it).
    ``tests/engines/test_spark_functions.py`` compares it with DuckDB on every pair of a word list."""
    if not isinstance(node, exp.EQ):
        return node
    if _is_damerau_levenshtein(node.this) and _is_one(node.expression):
        call = node.this
    elif _is_damerau_levenshtein(node.expression) and _is_one(node.this):
        call = node.expression
    else:
        return node
    a, b = call.expressions
    return exp.paren(_spark(
        "CASE WHEN __p_a IS NULL OR __p_b IS NULL THEN NULL"
        " WHEN LEVENSHTEIN(__p_a, __p_b) = 1 THEN TRUE"
        " WHEN LENGTH(__p_a) < 2 OR LENGTH(__p_a) <> LENGTH(__p_b) OR LEVENSHTEIN(__p_a, __p_b) <> 2 THEN FALSE"
        " ELSE EXISTS(SEQUENCE(1, LENGTH(__p_a) - 1), __ki -> SUBSTRING(__p_a, __ki, 1) <> SUBSTRING(__p_a, __ki + 1, 1)"
        " AND CONCAT(SUBSTRING(__p_a, 1, __ki - 1), SUBSTRING(__p_a, __ki + 1, 1), SUBSTRING(__p_a, __ki, 1),"
        " SUBSTRING(__p_a, __ki + 2)) = __p_b) END", a=a, b=b), copy=False)


def kontor_functions(node: exp.Expression) -> exp.Expression:
    """DuckDB's ``jaro_similarity``, ``jaro_winkler_similarity`` and ``damerau_levenshtein`` as
    Kontor's functions (``spark_functions``): Spark's builtin ``jaro_winkler_similarity`` gives
    other values than DuckDB's (silently), and a temporary function cannot shadow it."""
    from pipelines.engines.spark_functions import FUNCTIONS

    if isinstance(node, exp.JarowinklerSimilarity):
        return exp.Anonymous(this=FUNCTIONS["jaro_winkler_similarity"], expressions=[node.this.copy(), node.expression.copy()])
    if isinstance(node, exp.Anonymous) and node.name.lower() in FUNCTIONS:
        return exp.Anonymous(this=FUNCTIONS[node.name.lower()], expressions=[a.copy() for a in node.expressions])
    return node


def _string_literal(node: exp.Expression) -> exp.Literal | None:
    while isinstance(node, exp.Paren):
        node = node.this
    return node if isinstance(node, exp.Literal) and node.is_string else None


def simple_case_lookup(node: exp.Expression) -> exp.Expression:
    """``CASE x WHEN 'a' THEN 'A' WHEN 'b' THEN 'B' ... [ELSE e] END`` (strings to strings, as the
    country type maps spellings onto ISO codes) as one map lookup of ``x``. Spark parses a simple
    CASE into one comparison per WHEN, each with a copy of ``x``, so a computed ``x`` (the country
    type's folded value: lower, six replaces, a regex) was evaluated once per WHEN until one
    matched, about 200 times a row, where DuckDB evaluates it once; and the expanded expression
    outgrew Java's 64 KB method limit, so Spark compiled the whole statement's code, failed and
    ran it interpreted. The same result: the first WHEN of a value wins, a NULL ``x`` or a value no
    WHEN names gives the ELSE (``try_element_at``: NULL for a missing key)."""
    if not isinstance(node, exp.Case) or node.this is None or isinstance(node.this, (exp.Column, exp.Literal)):
        return node
    pairs: dict[str, exp.Literal] = {}
    for branch in node.args.get("ifs") or []:
        key, value = _string_literal(branch.this), _string_literal(branch.args["true"])
        if key is None or value is None:
            return node
        pairs.setdefault(key.this, value)
    if not pairs:
        return node
    entries = [part for key, value in pairs.items() for part in (exp.Literal.string(key), value.copy())]
    lookup = exp.Anonymous(this="TRY_ELEMENT_AT", expressions=[exp.Anonymous(this="MAP", expressions=entries),
                                                               node.this.copy()])
    default = node.args.get("default")
    return exp.func("coalesce", lookup, default.copy(), dialect="spark") if default is not None else lookup


def regex_replacement(node: exp.Expression) -> exp.Expression:
    """DuckDB (RE2): back-references ``\\1`` and a literal ``$``; Java: ``$1`` and ``\\$``. Left as
    they are, Java reads ``\\1`` as a literal 1. DuckDB replaces the first match unless the options
    say ``'g'``; Spark replaces all: a first-only replacement is anchored to the first match."""
    if not isinstance(node, exp.RegexpReplace):
        return node
    replacement, pattern, modifiers = node.args.get("replacement"), node.expression, node.args.get("modifiers")
    options = modifiers.this if isinstance(modifiers, exp.Literal) else ("" if modifiers is None else None)
    if options is None or not isinstance(replacement, exp.Literal) or not isinstance(pattern, exp.Literal):
        raise Untranslatable("regexp_replace with a computed pattern, replacement or options is not translated to Spark", node)
    unknown = set(options) - set("gic")
    if unknown:
        raise Untranslatable(f"regexp_replace option(s) {''.join(sorted(unknown))!r} are not translated to Spark", node)
    first_only = "g" not in options
    shift = 1 if first_only else 0

    def java(text: str) -> str:
        out, i = [], 0
        while i < len(text):
            ch = text[i]
            if ch == "\\" and i + 1 < len(text) and text[i + 1].isdigit():
                out.append(f"${int(text[i + 1]) + shift}")
                i += 2
            elif ch == "\\" and i + 1 < len(text):
                out.append(text[i:i + 2])
                i += 2
            elif ch == "$":
                out.append("\\$")
                i += 1
            else:
                out.append(ch)
                i += 1
        return "".join(out)

    regex = pattern.this
    if options.rfind("i") > options.rfind("c"):      # the last of 'i' and 'c' wins
        regex = "(?i)" + regex
    new_replacement = java(replacement.this)
    if first_only:
        # Only one match can start at ^ without MULTILINE: the lazy prefix keeps the text before it.
        regex, new_replacement = f"(?s)^(.*?)(?:{regex})", "$1" + new_replacement
    return exp.Anonymous(this="REGEXP_REPLACE", expressions=[node.this.copy(), exp.Literal.string(regex),
                                                              exp.Literal.string(new_replacement)])


def regex_full_match(node: exp.Expression) -> exp.Expression:
    """``regexp_full_match(s, p)``: sqlglot writes it unchanged and Spark has no such function.
    ``RLIKE`` finds a match anywhere, so the pattern is anchored: ``^(?:p)\\z`` (``\\z``, not ``$``,
    which Java also lets match before a final line break)."""
    if not isinstance(node, exp.RegexpFullMatch):
        return node
    pattern, options = node.expression, node.args.get("options")
    flags = options.this if isinstance(options, exp.Literal) else ("" if options is None else None)
    if not isinstance(pattern, exp.Literal) or flags is None:
        raise Untranslatable("regexp_full_match with a computed pattern or options is not translated to Spark", node)
    if set(flags) - set("ic"):
        raise Untranslatable(f"regexp_full_match option(s) {''.join(sorted(set(flags) - set('ic')))!r} are not "
                             "translated to Spark", node)
    regex = ("(?i)" if flags.rfind("i") > flags.rfind("c") else "") + f"^(?:{pattern.this})\\z"
    return exp.RegexpLike(this=node.this.copy(), expression=exp.Literal.string(regex))


def regex_extract(node: exp.Expression) -> exp.Expression:
    """``regexp_extract(s, p)`` is group 0 in DuckDB, group 1 in Spark: the group is written out.
    ``regexp_extract(s, p, ['a', 'b'])`` is a struct of the groups 1, 2, ... named so in DuckDB;
    sqlglot passes the list on, which Spark refuses: a ``STRUCT`` of one extract per group."""
    if not isinstance(node, exp.RegexpExtract):
        return node
    group = node.args.get("group")
    if group is None:
        return exp.RegexpExtract(this=node.this.copy(), expression=node.expression.copy(), group=exp.Literal.number(0))
    if isinstance(group, exp.Array):
        if not all(isinstance(n, exp.Literal) and n.is_string for n in group.expressions):
            raise Untranslatable("regexp_extract with computed group names is not translated to Spark", node)
        fields = [exp.alias_(exp.RegexpExtract(this=node.this.copy(), expression=node.expression.copy(),
                                               group=exp.Literal.number(i)), n.this)
                  for i, n in enumerate(group.expressions, start=1)]
        return exp.Struct(expressions=fields)
    return node


def min_max_by_count(node: exp.Expression) -> exp.Expression:
    """``min_by(x, y, k)``: sqlglot drops ``k`` for Spark (one value instead of a list of ``k``);
    Spark 4 has the three-argument form itself."""
    if isinstance(node, (exp.ArgMin, exp.ArgMax)) and node.args.get("count") is not None:
        name = "MIN_BY" if isinstance(node, exp.ArgMin) else "MAX_BY"
        return exp.Anonymous(this=name, expressions=[node.this.copy(), node.expression.copy(), node.args["count"].copy()])
    return node


def unordered_row_number(node: exp.Expression) -> exp.Expression:
    """``row_number() over ()`` numbers the rows as they stream in DuckDB (a table's insertion
    order); Spark refuses a row number without an order. ``monotonically_increasing_id()`` follows
    Spark's partitions and the rows within them: the order a Spark table is read in (and copied
    back to DuckDB in)."""
    if isinstance(node, exp.Window) and isinstance(node.this, exp.RowNumber) and not node.args.get("order"):
        order = exp.Order(expressions=[exp.Ordered(this=exp.Anonymous(this="MONOTONICALLY_INCREASING_ID"))])
        new = node.copy()
        new.set("order", order)
        return new
    return node


def struct_in_subquery(node: exp.Expression) -> exp.Expression:
    """``struct_pack(k0 := a, k1 := b) IN (SELECT <struct> ...)`` compares one struct value per
    row, NULL fields equal (the DuckDB gate's uniqueness over several columns). Spark's parser
    takes a ``struct(...)`` left of ``IN (subquery)`` for a list of columns (and refuses it against
    a subquery of one struct column; as columns, NULLs would never match); ``named_struct`` is
    a function call to it, so the struct stays one value, compared as DuckDB compares it."""
    if not (isinstance(node, exp.In) and node.args.get("query") is not None):
        return node
    struct = node.this.unnest() if isinstance(node.this, exp.Paren) else node.this
    if not isinstance(struct, exp.Struct) or not all(isinstance(f, exp.PropertyEQ) for f in struct.expressions):
        return node
    args = []
    for field in struct.expressions:
        args += [exp.Literal.string(field.this.name), field.expression.copy()]
    new = node.copy()
    new.set("this", exp.Anonymous(this="NAMED_STRUCT", expressions=args))
    return new


def regexp_split(node: exp.Expression) -> exp.Expression:
    """DuckDB's ``regexp_split_to_array(s, p)``: sqlglot writes it unchanged and Spark has no such
    function. Spark's ``SPLIT(s, p, -1)`` keeps the empty strings at both ends, as DuckDB does."""
    if isinstance(node, exp.Anonymous) and node.name.lower() == "regexp_split_to_array" and len(node.expressions) == 2:
        return exp.Anonymous(this="SPLIT", expressions=[a.copy() for a in node.expressions] + [exp.Literal.number(-1)])
    return node


def epoch_seconds(node: exp.Expression) -> exp.Expression:
    """DuckDB's ``epoch(t)`` is the seconds since 1970 as a DOUBLE, fractions kept; sqlglot writes
    ``UNIX_TIMESTAMP(t)``, whole seconds (1.5 s becomes 1, so two records half a second apart tie).
    The microseconds divided, as DOUBLE (the session's time zone is UTC, DuckDB's for a TIMESTAMP)."""
    if not isinstance(node, exp.TimeToUnix) or node.args.get("format") is not None:
        return node
    out = _spark("CAST(UNIX_MICROS(CAST(__p_t AS TIMESTAMP)) AS DOUBLE) / CAST(1000000 AS DOUBLE)", t=node.this)
    out.meta["kontor_double"] = True
    return out


def ordered_list(node: exp.Expression) -> exp.Expression:
    """DuckDB's ``list(x order by k)`` (also ``distinct``, ``filter (where ...)``): sqlglot writes
    ``COLLECT_LIST(x)`` and drops the order, so the list comes in whatever order Spark's rows
    arrive. Collected as structs of (k is null, k, x), sorted, then their values: DuckDB's order
    (NULL keys last), and NULL values kept in the list as DuckDB keeps them (``COLLECT_LIST`` drops
    a NULL, never a struct). A window's ``list`` is left alone.
    One ascending key; ``distinct`` only ordered by the value itself (as DuckDB requires)."""
    target = node.this if isinstance(node, exp.Filter) else node
    if not isinstance(target, exp.ArrayAgg) or not isinstance(target.this, exp.Order):
        return node
    if isinstance(node, exp.ArrayAgg) and isinstance(node.parent, exp.Filter):
        return node                             # rewritten with its filter, at the parent
    if isinstance(node.parent, exp.Window):
        return node                             # a window's list: left as sqlglot writes it
    order = target.this
    keys = order.expressions
    if len(keys) != 1 or keys[0].args.get("desc") or keys[0].args.get("nulls_first"):
        raise Untranslatable("list(... order by ...) with more than one key or a descending key is not translated to Spark", node)
    value, distinct = order.this, isinstance(order.this, exp.Distinct)
    if distinct:
        (value,) = value.expressions
    # NULL keys last, as DuckDB orders them (Spark sorts a struct's NULL field first)
    pair = exp.Anonymous(this="NAMED_STRUCT", expressions=[
        exp.Literal.string("n"), exp.Is(this=keys[0].this.copy(), expression=exp.Null()),
        exp.Literal.string("k"), keys[0].this.copy(), exp.Literal.string("v"), value.copy()])
    collected: exp.Expression = exp.ArrayAgg(this=exp.Distinct(expressions=[pair]) if distinct else pair)
    if isinstance(node, exp.Filter):
        collected = exp.Filter(this=collected, expression=node.expression.copy())
    return _spark("TRANSFORM(ARRAY_SORT(__p_c), __e -> __e.v)", c=collected)


_FILE_READERS = ("read_csv", "read_csv_auto", "read_json", "read_json_auto", "read_json_objects", "read_ndjson",
                 "read_ndjson_auto", "read_ndjson_objects", "read_text", "read_blob", "read_xlsx", "st_read",
                 "sniff_csv", "delta_scan", "iceberg_scan")


def file_readers(node: exp.Expression) -> exp.Expression:
    """DuckDB's file readers in ``FROM``: ``read_parquet('one/path')`` is Spark's
    ``parquet.`one/path``` (sqlglot writes it so); a list of paths (sqlglot writes ``parquet.```,
    an empty path) or anything else computed is refused, and so is every other reader
    (``read_csv_auto``, ``read_json`` ...): Spark SQL has no table function that sniffs a file's
    header and types as DuckDB does (``csv.`x.csv``` reads columns ``_c0`` ... as strings)."""
    if not isinstance(node, exp.Table):
        return node
    reader = node.this
    if isinstance(reader, exp.ReadParquet):
        paths = reader.expressions
        if len(paths) != 1 or not isinstance(paths[0], exp.Literal) or not paths[0].is_string:
            raise Untranslatable("read_parquet of a list of files, a computed path or with options is not "
                                 "translated to Spark; read one literal path (a glob works) or load the files as a source", node)
        return node
    name = "read_csv" if isinstance(reader, exp.ReadCSV) else reader.name.lower() if isinstance(reader, exp.Anonymous) else ""
    if name in _FILE_READERS:
        raise Untranslatable(f"{name}(...) (DuckDB's file reader) is not translated to Spark: Spark SQL has no reader "
                             "that sniffs a file's columns and types as DuckDB's does; load the file as a seed or a source", node)
    return node


def _is_date(node: exp.Expression) -> bool:
    """``node`` is visibly a DATE (a cast, ``current_date``, ``make_date``, ``last_day``)."""
    node = node.unnest()
    if isinstance(node, (exp.Cast, exp.TryCast)):
        return node.to.is_type(exp.DataType.Type.DATE)
    return isinstance(node, (exp.CurrentDate, exp.DateFromParts, exp.LastDay))


def date_difference(node: exp.Expression) -> exp.Expression:
    """``date - date`` is a number of days (BIGINT) in DuckDB; in Spark it is an INTERVAL DAY,
    which reached the DuckDB copy as microseconds (1785 days became 154224000000000). Written as
    ``DATEDIFF`` where both sides are visibly dates; the difference of two DATE columns is not
    seen here, and ``kontor check`` reports a model where Spark computes an interval and DuckDB
    does not (``pipelines.engines.explain``)."""
    if isinstance(node, exp.Sub) and _is_date(node.this) and _is_date(node.expression):
        return exp.cast(exp.Anonymous(this="DATEDIFF", expressions=[node.this.copy(), node.expression.copy()]),
                        exp.DataType.build("bigint"))
    return node


RULES = (file_readers, date_difference, generate_series, iso_calendar, decimal_division, list_index, list_length,
         regex_replacement, regex_full_match, regex_extract, min_max_by_count, damerau_levenshtein_one, kontor_functions,
         unordered_row_number, struct_in_subquery, regexp_split, epoch_seconds, ordered_list, simple_case_lookup)


def _bottom_up(tree: exp.Expression, rule) -> exp.Expression:
    """``rule`` on every node, children before their parent, so that the parts a rule copies into
    its result are already rewritten. (sqlglot's ``transform`` goes top-down and does not enter a
    node it replaced: the inner of two nested ``regexp_replace`` kept DuckDB's ``\\1``, which Java
    read as a literal 1.)"""
    for node in reversed(list(tree.dfs())):
        new = rule(node)
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree


def unique_cte_names(tree: exp.Expression) -> exp.Expression:
    """A nested CTE renamed where its name is taken by another CTE of the statement. sqlglot
    writes Spark SQL with every CTE at the top (Hive's rule), so two subqueries that each define
    ``all_values`` (dbt's ``accepted_values`` test, used twice by its warn/error gate) became one
    ``WITH all_values AS (...), all_values AS (...)``, which Spark refuses, and two different
    definitions of one name would be one name for both. It is renamed, with its references in its
    own query, which keep the old name as their alias, so ``all_values.x`` still resolves. An
    equal CTE is renamed too, not dropped: sqlglot hoists only under some roots (a SELECT, not a
    UNION), and where it does not, the dropped copy would be missing from its branch (the
    survivorship union read ``latest`` that was no longer there).

    >>> to_spark("select * from (with a as (select 1 x) select a.x from a) t, (with a as (select 2 x) select x from a) u")
    'WITH a AS (SELECT 1 AS x), a__2 AS (SELECT 2 AS x) SELECT * FROM (SELECT a.x FROM a) AS t, (SELECT x FROM a__2 AS a) AS u'
    """
    withs = list(tree.find_all(exp.With))
    taken = {cte.alias_or_name.lower() for w in withs for cte in w.expressions if w.parent is tree}
    for with_ in withs:
        if with_.parent is tree:
            continue
        for cte in with_.expressions:
            name = cte.alias_or_name
            if name.lower() not in taken:
                taken.add(name.lower())
                continue
            n = 2
            while f"{name}__{n}".lower() in taken:
                n += 1
            new = f"{name}__{n}"
            taken.add(new.lower())
            # not in its own body or an earlier CTE of its WITH: a name there is another relation
            before = with_.expressions[:with_.expressions.index(cte) + 1]
            for table in with_.parent.find_all(exp.Table):
                if not table.args.get("db") and table.name.lower() == name.lower() \
                        and not any(table.find_ancestor(exp.CTE) is c for c in before):
                    if not table.alias:
                        table.set("alias", exp.TableAlias(this=exp.to_identifier(table.name)))
                    table.set("this", exp.to_identifier(new))
            cte.set("alias", exp.TableAlias(this=exp.to_identifier(new)))
    return tree


def catalog_case(tree: exp.Expression, columns) -> exp.Expression:
    """A projection that is a bare column (``select client_id from t``) is named as the column it
    reads is spelled (DuckDB: ``CLIENT_ID`` when the seed's header says so); Spark names it as the
    query spells it (``client_id``), so the model's columns would change case on Spark. Each such
    projection gets its source column's spelling as alias, through CTEs, subqueries and ``*``;
    ``columns(db, name)`` gives a catalog table's column names (None when not known: the
    projection is left as written). Nothing is aliased where the spelling already agrees.

    >>> to_spark("select client_id, t.info from t", columns=lambda db, name: ["CLIENT_ID", "Info"])
    'SELECT client_id AS `CLIENT_ID`, t.info AS `Info` FROM t'
    """
    from sqlglot.optimizer.scope import Scope, traverse_scope

    outputs: dict[int, list[str] | None] = {}

    def names_of(source) -> list[str] | None:
        if isinstance(source, exp.Table):
            return columns(source.db or None, source.name)
        if isinstance(source, Scope):
            return outputs.get(id(source.expression))
        return None

    def select_names(scope: Scope) -> list[str] | None:
        select = scope.expression
        if isinstance(select, exp.SetOperation):
            left = select.left
            while isinstance(left, exp.SetOperation):
                left = left.left
            return outputs.get(id(left))
        if not isinstance(select, exp.Select):
            return None
        names: list[str] = []
        for projection in select.expressions:
            if isinstance(projection, exp.Star) or (isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)):
                qualifier = projection.table if isinstance(projection, exp.Column) else ""
                for alias, (_, source) in scope.selected_sources.items():
                    if qualifier and alias.lower() != qualifier.lower():
                        continue
                    found = names_of(source)
                    if found is None:
                        return None
                    names.extend(found)
            else:
                names.append(projection.alias_or_name)
        return names

    try:
        scopes = traverse_scope(tree)
    except Exception:  # noqa: BLE001 - a query sqlglot cannot scope keeps the query's spelling
        return tree
    for scope in scopes:
        select = scope.expression
        if isinstance(select, exp.Select):
            for projection in select.expressions:
                if not isinstance(projection, exp.Column) or isinstance(projection.this, exp.Star):
                    continue
                candidates = [source for alias, (_, source) in scope.selected_sources.items()
                              if not projection.table or alias.lower() == projection.table.lower()]
                spellings = {n for source in candidates for n in (names_of(source) or [])
                             if n.lower() == projection.name.lower()}
                if len(spellings) == 1 and (spelling := spellings.pop()) != projection.name:
                    projection.replace(exp.alias_(projection.copy(), exp.to_identifier(spelling, quoted=True)))
        outputs[id(select)] = select_names(scope)
    return tree


def _correlated(body: exp.Expression) -> bool:
    """A CTE body that reads a column of a query around it: a column qualified by a name the body
    does not define, or any column of a SELECT without FROM."""
    defined = {t.alias_or_name.lower() for t in body.find_all(exp.Table)} | \
        {q.alias.lower() for q in body.find_all(exp.Subquery) if q.alias} | \
        {c.alias_or_name.lower() for c in body.find_all(exp.CTE)}
    for column in body.find_all(exp.Column):
        select = column.find_ancestor(exp.Select)
        if column.table and column.table.lower() not in defined:
            return True
        if not column.table and select is not None and not (select.args.get("from_") or select.args.get("from")) \
                and select is body.unnest():
            return True
    return False


def correlated_ctes(tree: exp.Expression) -> exp.Expression:
    """A CTE inside a subquery that reads the outer query's columns (a dbt macro's
    ``(with adjusted as (select s.order_ts as dt, ...) select ... from adjusted)`` in a select
    list) is written as a derived table where it is read: sqlglot hoists every CTE to the
    statement's one WITH for Spark, where ``s`` is out of scope (Spark: UNRESOLVED_COLUMN)."""
    for with_ in list(tree.find_all(exp.With)):
        if with_.parent is tree or with_.parent is None:
            continue
        query = with_.parent
        for cte in list(with_.expressions):
            if not _correlated(cte.this):
                continue
            name = cte.alias_or_name.lower()
            for table in list(query.find_all(exp.Table)):
                if not table.args.get("db") and table.name.lower() == name and table.find_ancestor(exp.CTE) is not cte:
                    alias = table.alias or cte.alias_or_name
                    table.replace(exp.Subquery(this=cte.this.copy(), alias=exp.TableAlias(this=exp.to_identifier(alias))))
            cte.pop()
    return tree


def rewrite(tree: exp.Expression, columns=None) -> exp.Expression:
    """Kontor's rules applied to a query parsed in DuckDB's dialect, one pass per rule;
    ``columns(db, name)``, a catalog's column names, lets ``catalog_case`` name columns as DuckDB does."""
    lists = list_names(tree)
    tree = tree.copy()
    for rule in RULES:
        tree = _bottom_up(tree, (lambda node: list_length(node, lists)) if rule is list_length else rule)
    if columns is not None:
        tree = catalog_case(tree, columns)
    return unique_cte_names(correlated_ctes(tree))


def to_spark(sql: str, pretty: bool = False, columns=None) -> str:
    """One DuckDB statement as Spark SQL; ``Untranslatable`` or sqlglot's ``UnsupportedError``
    when a part cannot be written for Spark. ``columns(db, name)``: see ``catalog_case``."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    return rewrite(tree, columns).sql(dialect="spark", pretty=pretty, unsupported_level=sqlglot.ErrorLevel.RAISE)


def node_line(node: exp.Expression | None) -> int | None:
    """The line (1-based, in the parsed SQL) of the first identifier at or under ``node``."""
    if node is None:
        return None
    for sub in [node, *node.walk()]:
        line = sub.meta.get("line") if hasattr(sub, "meta") else None
        if line:
            return int(line)
    return None

