"""Project files as pydantic models; one loader turns every validation error into ``file:line: message``.

A stage declares its YAML as ``Spec`` models (types, defaults, ``extra="forbid"``) and
``validate`` reads the line-aware YAML of ``pipelines.core.yamlfile`` into them. Every problem
of the file is reported at once, like a compiler: each model reports its own errors at the line
they were written, drops what is wrong (a default takes its place, a bad list item is left
out) and is built from the rest, so the rules of the parts around it still run::

    >>> from typing import ClassVar, Literal
    >>> from pydantic import Field
    >>> from pipelines.core.yamlfile import loads
    >>> class Column(Spec):
    ...     what: ClassVar[str] = "column"
    ...     name: str = Field(description="the column's name")
    ...     kind: Literal["text", "number"] = "text"
    >>> class Table(Spec):
    ...     what: ClassVar[str] = "table"
    ...     columns: list[Column]
    ...     def problems(self):
    ...         if len({c.name for c in self.columns}) < len(self.columns):
    ...             yield self.key_line("columns"), "duplicate column"
    >>> _ = Table.model_rebuild()    # doctests compile with this module's future annotations
    >>> doc = loads("columns:\\n  - {name: a, knd: text}\\n  - {name: a, kind: date}\\n  - kind: text\\n", "t.yml")
    >>> table, problems = validate(Table, doc, "t.yml")
    >>> for p in problems: print(p)
    t.yml:2: unknown key 'knd' in column; did you mean 'kind'?
    t.yml:3: kind must be 'text' or 'number', not 'date'
    t.yml:4: missing 'name:' (the column's name)
    t.yml:1: duplicate column
    >>> [(c.name, c.kind, c.line) for c in table.columns]
    [('a', 'text', 2), ('a', 'text', 3)]

Rules across fields go in ``problems()``: it runs on the valid parts and yields ``(line,
message)``, the model is kept. A ``model_validator(mode="after")`` raising ``ValueError`` (or
``SpecError`` with a line) rejects the model instead; its message is reported at the model's
line, by the parent after the parent's other parts. A field validator raising ``ValueError`` words
its own message in full.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import (AfterValidator, BaseModel, ConfigDict, PrivateAttr, ValidationError, ValidationInfo,
                      model_validator)
from pydantic_core import PydanticKnownError

from pipelines.core.errors import Problem, did_you_mean
from pipelines.core.yamlfile import LineDict, LineList

__all__ = ["Mapping", "Spec", "SpecError", "plain", "validate"]

M = TypeVar("M", bound="Spec")

# What pydantic's type errors mean, in the words of the files' readers.
_EXPECTED = {
    "string_type": "text", "int_type": "a whole number", "int_parsing": "a whole number",
    "int_from_float": "a whole number", "float_type": "a number", "float_parsing": "a number",
    "bool_type": "true or false", "bool_parsing": "true or false", "list_type": "a list",
    "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
}


class SpecError(ValueError):
    """A rule's message, at ``line`` when given (else where the failing part was written)."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.line = line


def _mapping(value: Any) -> Any:
    if not isinstance(value, dict):
        raise PydanticKnownError("dict_type")
    return value


# A mapping kept as written (a LineDict still knows the line of each key), e.g. a rule's arguments.
Mapping = Annotated[Any, AfterValidator(_mapping)]


class _Reported(ValueError):
    """A part whose problems are already reported: its parent leaves it out, silently."""


class Spec(BaseModel):
    """A mapping of a project file: unknown keys are errors, and it knows the lines it was written at."""

    # defer_build: a spec's validator is built when a file is first validated against it, not when
    # its module is imported (a mapping only ever nested in another is never built on its own)
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    what: ClassVar[str] = "mapping"     # how messages name it: "unknown key 'x' in <what>"
    shape: ClassVar[str] = "a mapping"  # what it must be: "<key> must be <shape>"
    unknown_hint: ClassVar[str] = ""    # said of an unknown key no known key resembles
    all_or_nothing: ClassVar[bool] = False  # True: any problem leaves the whole mapping out

    _line: int = PrivateAttr(0)
    _key_lines: dict[str, int] = PrivateAttr(default_factory=dict)

    @property
    def line(self) -> int:
        """The 1-based line the mapping starts at (0 when not read from YAML)."""
        return self._line

    def key_line(self, key: str) -> int:
        """The line of ``key``; the mapping's line when the key is not written."""
        return self._key_lines.get(key, self._line)

    def rejected(self, key: str) -> bool:
        """Written in the file but left out as invalid (its problem is reported): rules across
        fields treat it as given, so one mistake is not reported twice."""
        return key in self._key_lines and key not in self.model_fields_set

    def problems(self) -> Iterable[tuple[int | None, str]]:
        """Rules across fields, as ``(line, message)``; run once the fields are valid."""
        return ()

    @classmethod
    def unknown_key(cls, key: str, value: Any, data: Any) -> str:
        """What is said of ``key: value``, a key this mapping does not have (``data``: the mapping
        as written); override to name the mapping by its content or to give the usual cause."""
        hint = did_you_mean(key, {f.alias or n for n, f in cls.model_fields.items()}) or cls.unknown_hint
        return f"unknown key {key!r} in {cls.what}{hint}"

    @model_validator(mode="wrap")
    @classmethod
    def _report_at_lines(cls, data: Any, handler, info: ValidationInfo):
        context = info.context or {}
        # A second pass over what is left says nothing: its parts have spoken in the first.
        found = context.get("problems") if not context.get("quiet") else None
        try:
            model = handler(data)
        except ValidationError as exc:
            errors = exc.errors()
            if "problems" not in context or not isinstance(data, dict):
                raise       # not a mapping: the parent knows the line and says so
            if found is not None:
                found += _problems(cls, data, errors, context["file"])
            data = None if cls.all_or_nothing else _without(data, [e["loc"] for e in errors])
            if data is None:
                raise _Reported() from None
            context["quiet"] = context.get("quiet", 0) + 1
            try:
                model = handler(data)
            except ValidationError:
                raise _Reported() from None
            finally:
                context["quiet"] -= 1
        model._line = getattr(data, "line", 0)
        model._key_lines = dict(getattr(data, "key_lines", {}))
        if found is not None:
            found += (Problem(context["file"], line or None, message) for line, message in model.problems())
        return model


def validate(model: type[M], doc: Any, file: str) -> tuple[M | None, list[Problem]]:
    """``doc`` (from ``yamlfile.load``) as ``model``, and every problem of it. The model is None
    only when the document as a whole is unusable (not a mapping, or a required key missing)."""
    found: list[Problem] = []
    try:
        if doc is None:     # an empty file: an empty mapping at line 1
            doc = LineDict()
            doc.line, doc.key_lines = 1, {}
        result = model.model_validate(doc, context={"file": file, "problems": found})
    except ValidationError as exc:
        for error in exc.errors():
            if not error["loc"] and error["type"] in ("model_type", "dict_type"):
                found.append(Problem(file, getattr(doc, "line", 0) or 1, f"expected {model.shape}"))
            else:   # what the document's own model_validator says
                found += _problems(model, doc, [error], file)
        return None, found
    return result, found


def _problems(model: type[Spec], data: Any, errors: list[dict], file: str) -> list[Problem]:
    """The errors of one mapping as problems at their lines, unknown keys first."""
    found = []
    for error in sorted(errors, key=lambda e: e["type"] != "extra_forbidden"):
        raised = (error.get("ctx") or {}).get("error")
        if not isinstance(raised, _Reported):
            line = getattr(raised, "line", None) or _line_at(data, error["loc"])
            found.append(Problem(file, line or None, _message(model, error, data)))
    return found


def plain(value: Any) -> Any:
    """LineDict/LineList back to dict/list (for values handed to libraries that copy them).

    >>> from pipelines.core.yamlfile import loads
    >>> type(plain(loads("a: [1]", "x.yml"))["a"])
    <class 'list'>
    """
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _line_at(data: Any, loc: tuple) -> int:
    """The line of the deepest part of ``loc`` that is written in ``data``."""
    line, node = getattr(data, "line", 0), data
    for part in loc:
        if isinstance(node, LineDict) and part in node:
            line, node = node.key_line(part), node[part]
        elif isinstance(node, LineList) and isinstance(part, int) and part < len(node):
            line, node = node.item_line(part), node[part]
        else:
            break
    return line


def _path(loc: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def _message(model: type[Spec], error: dict, data: Any) -> str:
    loc, kind, ctx = error["loc"], error["type"], error.get("ctx") or {}
    key = str(loc[-1]) if loc else model.what
    field = model.model_fields.get(str(loc[0])) if len(loc) == 1 else None
    if kind == "extra_forbidden" and len(loc) == 1:
        return model.unknown_key(key, error["input"], data)
    if kind == "missing":
        described = f" ({field.description})" if field is not None and field.description else ""
        return f"missing '{key}:'{described}"
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    if kind == "literal_error":
        allowed = field.description if field is not None and field.description else ctx.get("expected")
        return f"{_path(loc)} must be {allowed}, not {error['input']!r}"
    if field is not None and field.description and kind in _EXPECTED:
        return f"{_path(loc)} must be {field.description}{_not(error)}"
    if kind in ("model_type", "dict_type") and len(loc) > 1 and isinstance(loc[-1], int):
        return f"each item of {_path(loc[:-1])} must be {_shape(model, loc[0])}"
    if kind in ("model_type", "dict_type"):
        return f"{_path(loc)} must be {_shape(model, loc[0]) if loc else model.shape}"
    if kind in _EXPECTED:
        return f"{_path(loc)} must be {_EXPECTED[kind]}{_not(error)}"
    if kind.startswith("custom") or not loc:
        return error["msg"]
    return f"{_path(loc)}: {error['msg'][:1].lower()}{error['msg'][1:]}"


def _not(error: dict) -> str:
    """What was written instead, unless nothing was."""
    return "" if error["input"] is None else f", not {error['input']!r}"


def _shape(model: type[Spec], field: Any) -> str:
    """``shape`` of the Spec a field holds (directly, in a list or in a mapping), else 'a mapping'."""
    info = model.model_fields.get(str(field))
    inner = [info.annotation] if info is not None else []
    while inner:
        t = inner.pop()
        if isinstance(t, type) and issubclass(t, Spec):
            return t.shape
        inner += getattr(t, "__args__", ())
    return "a mapping"


def _without(data: Any, locs: list[tuple]) -> Any:
    """A copy of ``data`` without the entries at ``locs``, or None when an error is the mapping
    itself or a key that is missing (nothing to leave out)."""
    data = copy.deepcopy(data)
    dropped: dict[int, tuple[list, set[int]]] = {}
    for loc in locs:
        node, parent, part = data, None, None
        for step in loc:
            if isinstance(node, dict) and step in node or isinstance(node, list) and isinstance(step, int) \
                    and step < len(node):
                node, parent, part = node[step], node, step
            else:
                break
        if parent is None:
            return None
        if isinstance(parent, list):
            dropped.setdefault(id(parent), (parent, set()))[1].add(part)
        else:
            parent.pop(part, None)
    for items, indices in dropped.values():
        kept = [(v, line) for i, (v, line) in enumerate(zip(items, _item_lines(items))) if i not in indices]
        items[:] = [v for v, _ in kept]
        if isinstance(items, LineList):
            items.item_lines = [line for _, line in kept]
    return data


def _item_lines(items: list) -> Iterator[int]:
    lines = getattr(items, "item_lines", None) or []
    return iter(lines[i] if i < len(lines) else getattr(items, "line", 0) for i in range(len(items)))
