"""YAML that remembers where things were written, so errors can say ``file:line``.

>>> doc = loads("a:\\n  b: 1\\n", "x.yml")
>>> doc["a"].line, doc["a"].key_line("b")
(2, 2)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipelines.core.errors import Problem, ProjectError


class LineDict(dict):
    """A mapping from YAML with the 1-based line of itself and of each key."""

    line: int = 0
    key_lines: dict[str, int]

    def key_line(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list):
    """A sequence from YAML with the 1-based line of itself and of each item."""

    line: int = 0
    item_lines: list[int]

    def item_line(self, index: int) -> int:
        lines = getattr(self, "item_lines", None) or []
        return lines[index] if index < len(lines) else self.line


class _Loader(yaml.SafeLoader):
    pass


# libyaml parses about ten times faster than the pure-Python parser (kontor check reads ~50
# files); the constructors, which record the lines, are the same for both. Errors are worded by
# the pure-Python parser, whose messages the docs quote.
class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


for _loader in (_Loader, _FastLoader):
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def loads(text: str, filename: str) -> Any:
    """Parse YAML text; a syntax error becomes a ``ProjectError`` naming file and line."""
    try:
        return yaml.load(text, Loader=_FastLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError:
        pass  # parsed again below, for the message
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ProjectError([Problem(filename, line, f"invalid YAML: {exc.problem or exc}")]) from exc


def load(path: Path, display_name: str | None = None) -> Any:
    """Read a project YAML file, which must be UTF-8 (a UTF-8 BOM is fine); anything else is a
    ``ProjectError`` naming the file, the line and what the bytes look like."""
    name = display_name or str(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ProjectError([Problem(name, data.count(b"\n", 0, exc.start) + 1,
                                    f"not UTF-8 (looks like {_guess_encoding(data)}); save it as UTF-8")]) from None
    return loads(text, name)


def _guess_encoding(data: bytes) -> str:
    """What a Windows editor most likely saved: UTF-16 (Notepad's "Unicode") or cp1252 ("ANSI")."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or data[1::2].count(0) > len(data) // 4:
        return "UTF-16"
    try:
        data.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"
