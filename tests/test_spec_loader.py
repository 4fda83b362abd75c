"""The one loader of project files: pydantic models in, every problem out as ``file:line: message``.

Each case is a YAML text and the exact problems, in the order a user reads them.
"""
from __future__ import annotations

from textwrap import dedent
from typing import Any, ClassVar, Literal

import pytest
from pydantic import Field, field_validator, model_validator

from pipelines.core.spec import Mapping, Spec, SpecError, plain, validate
from pipelines.core.yamlfile import loads

FILE = "things.yml"


class Part(Spec):
    what: ClassVar[str] = "part"
    shape: ClassVar[str] = "a mapping with 'name:'"

    name: str = Field(description="the part's name")
    size: int = 1
    unit: Literal["mm", "cm"] = "mm"
    args: Mapping = Field(default_factory=dict, description="a mapping of argument: value")

    @field_validator("name")
    @classmethod
    def _lower(cls, name: str) -> str:
        if name != name.lower():
            raise ValueError(f"part name {name!r} must be lower case")
        return name


class Strict(Spec):
    what: ClassVar[str] = "strict part"
    all_or_nothing: ClassVar[bool] = True

    name: str
    size: int = 1

    @model_validator(mode="after")
    def _small(self) -> Strict:
        if self.size > 9:
            raise SpecError("a strict part is smaller than 10")
        return self


class Thing(Spec):
    what: ClassVar[str] = "thing"
    shape: ClassVar[str] = "a mapping with a 'parts' list"

    title: str = ""
    parts: list[Part] = Field(None, validate_default=True)
    strict: list[Strict] = []
    by_name: dict[str, Part] = {}

    def problems(self):
        seen: set[str] = set()
        for part in self.parts:
            if part.name in seen:
                yield part.key_line("name"), f"duplicate part {part.name!r}"
            seen.add(part.name)


def check(text: str) -> tuple[Any, list[str]]:
    doc = loads(dedent(text), FILE)
    model, problems = validate(Thing, doc, FILE)
    return model, [str(p) for p in problems]


CASES = [
    ("valid", """\
        title: t
        parts:
          - name: a
            size: 2
        """, []),
    ("unknown_key_with_did_you_mean_at_its_line", """\
        title: t
        parts:
          - name: a
            sise: 2
        """, [f"{FILE}:4: unknown key 'sise' in part; did you mean 'size'?"]),
    ("unknown_key_without_a_close_one", """\
        parts: []
        colour: red
        """, [f"{FILE}:2: unknown key 'colour' in thing"]),
    ("nested_list_item_at_its_own_line", """\
        parts:
          - name: a
          - name: b
            unit: m
          - {name: c, size: many}
        """, [f"{FILE}:4: unit must be 'mm' or 'cm', not 'm'",
              f"{FILE}:5: size must be a whole number, not 'many'"]),
    ("missing_required_key_names_what_it_is", """\
        parts:
          - size: 3
        """, [f"{FILE}:2: missing 'name:' (the part's name)"]),
    ("not_a_list", """\
        parts: {name: a}
        """, [f"{FILE}:1: parts must be a list, not {{'name': 'a'}}"]),
    ("missing_list", """\
        title: t
        """, [f"{FILE}:1: parts must be a list"]),
    ("item_not_a_mapping", """\
        parts:
          - name: a
          - just text
        """, [f"{FILE}:3: each item of parts must be a mapping with 'name:'"]),
    ("mapping_field_described", """\
        parts:
          - name: a
            args: [1, 2]
        """, [f"{FILE}:3: args must be a mapping of argument: value, not [1, 2]"]),
    ("validator_words_its_own_message", """\
        parts:
          - name: Big
        """, [f"{FILE}:2: part name 'Big' must be lower case"]),
    ("mapping_of_specs", """\
        parts: []
        by_name:
          a: {name: a}
          b: {name: b, unti: cm}
        """, [f"{FILE}:4: unknown key 'unti' in part; did you mean 'unit'?"]),
    ("all_problems_at_once_and_rules_run_on_the_valid_parts", """\
        title: [not, text]
        parts:
          - name: a
            size: x
          - name: b
          - name: a
          - 7
        extra: 1
        """, [f"{FILE}:4: size must be a whole number, not 'x'",
              f"{FILE}:8: unknown key 'extra' in thing",
              f"{FILE}:1: title must be text, not ['not', 'text']",
              f"{FILE}:7: each item of parts must be a mapping with 'name:'",
              f"{FILE}:6: duplicate part 'a'"]),
    ("all_or_nothing_leaves_the_part_out", """\
        parts: []
        strict:
          - {name: a, size: 12}
          - {name: b, colour: red}
          - {name: c}
        """, [f"{FILE}:4: unknown key 'colour' in strict part",    # the part says it
              f"{FILE}:3: a strict part is smaller than 10"]),     # its model_validator's error: the parent says it
]


@pytest.mark.parametrize("text, expected", [pytest.param(t, e, id=i) for i, t, e in CASES])
def test_problems(text: str, expected: list[str]):
    assert check(text)[1] == expected


def test_a_valid_part_is_kept_and_knows_its_lines():
    thing, problems = check("""\
        parts:
          - name: a
            size: 2
          - name: b
            unti: cm
          - name: c
            args:
              x: 1
              y: [2]
        """)
    assert problems == [f"{FILE}:5: unknown key 'unti' in part; did you mean 'unit'?"]
    a, b, c = thing.parts       # b is kept without the unknown key; nothing else is lost
    assert (a.name, a.size, a.line, a.key_line("size"), a.key_line("unit")) == ("a", 2, 2, 3, 2)
    assert (b.name, b.unit, b.line) == ("b", "mm", 4)
    assert c.args.key_line("y") == 9 and plain(c.args) == {"x": 1, "y": [2]}
    assert type(plain(c.args)["y"]) is list


def test_all_or_nothing_keeps_only_flawless_parts():
    thing, _ = check("parts: []\nstrict:\n  - {name: a, size: 12}\n  - {name: c}\n")
    assert [s.name for s in thing.strict] == ["c"]


def test_a_document_that_is_not_a_mapping():
    assert check("- a\n- b\n") == (None, [f"{FILE}:1: expected a mapping with a 'parts' list"])


def test_an_empty_document_is_an_empty_mapping():
    assert check("") == (None, [f"{FILE}:1: parts must be a list"])


class Window(Spec):
    what: ClassVar[str] = "window"

    start: int | None = None
    end: int | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise SpecError("end comes before start", self.key_line("end"))
        return self

    def problems(self):
        if (self.start is None and not self.rejected("start")) != (self.end is None and not self.rejected("end")):
            yield self.line, "a window has both start and end"


@pytest.mark.parametrize("text, expected", [
    ("start: 1\nend: 2\n", []),
    ("start: 1\n", [f"{FILE}:1: a window has both start and end"]),
    # a start that is written but wrong is reported once, not again as missing
    ("start: soon\nend: 2\n", [f"{FILE}:1: start must be a whole number, not 'soon'"]),
    # the document's own model_validator, at the line it names
    ("start: 5\n\nend: 2\n", [f"{FILE}:3: end comes before start"]),
])
def test_rules_across_fields(text: str, expected: list[str]):
    assert [str(p) for p in validate(Window, loads(text, FILE), FILE)[1]] == expected


def test_a_spec_is_an_ordinary_pydantic_model_outside_the_loader():
    part = Part(name="a", size=3)
    assert (part.size, part.line) == (3, 0)
    with pytest.raises(ValueError):
        Part(name="a", colour="red")


def test_tool_kontor_goes_through_the_same_loader():
    """``[tool.kontor]`` is TOML: its lines come from a scan of the text, its values from tomllib."""
    from pipelines.core.settings import read_tool_kontor

    text = dedent("""\
        [project]
        name = "p"

        [tool.kontor]
        name = "demo"
        data_dirr = "extracts"   # a typo: the default would be used silently
        threads = "many"
        models_in_one_step = true

        [tool.kontor.retries]
        max_retries = 2

        [tool.kontor.alertz]
        webhook_env = "X"
        """)
    table, problems = read_tool_kontor(text, "pyproject.toml")
    assert [str(p) for p in problems] == [
        "pyproject.toml:6: unknown key 'data_dirr' in [tool.kontor]; did you mean 'data_dir'?",
        "pyproject.toml:13: unknown key 'alertz' in [tool.kontor]; did you mean 'alerts'?",
        "pyproject.toml:7: threads = 'many' is not a positive whole number; fix: write e.g. threads = 2 in "
        "[tool.kontor] (or KONTOR_THREADS=2)"]
    assert (table.name, table.data_dir, table.threads, table.models_in_one_step) == ("demo", "data", None, True)
    assert table.retries == {"max_retries": 2}


def test_kontor_check_names_an_unknown_setting(tmp_path):
    from pipelines.check import check_settings
    from pipelines.core.errors import KontorError
    from pipelines.core.settings import load_settings

    (tmp_path / "pyproject.toml").write_text('[tool.kontor]\nname = "t"\nsoruces = "s.yml"\n')
    settings = load_settings(tmp_path, env={})      # an unknown key does not stop a run ...
    assert [str(p) for p in check_settings(settings)] == [   # ... kontor check names it
        "pyproject.toml:3: unknown key 'soruces' in [tool.kontor]; did you mean 'sources'?"]
    (tmp_path / "pyproject.toml").write_text('[tool.kontor]\nname = "t"\nthreads = 0\n')
    with pytest.raises(KontorError, match=r"pyproject.toml:3: threads = 0 is not a positive whole number; fix:"):
        load_settings(tmp_path, env={})


def test_plain_settings_read_without_pydantic_as_the_model_reads_them():
    """load_settings takes [tool.kontor] without its pydantic model when every key it uses has its
    plain TOML type: the values are the model's, and anything else goes through the model."""
    from pipelines.core.settings import PLAIN_KEYS, _plain_tool_kontor, read_tool_kontor

    for body in ("", 'name = "demo"\ndata_dir = "x"\ntarget_dir = "/t"\nsources = "s.yml"\nmemory_limit = "1GB"\n'
                     "threads = 2\nmodels_in_one_step = true\nunknown_key = 1\n[tool.kontor.retries]\nmax_retries = 2\n"):
        text = f"[tool.kontor]\n{body}"
        plain, (table, _) = _plain_tool_kontor(text, "p"), read_tool_kontor(text, "p")
        assert {k: getattr(plain, k) for k in PLAIN_KEYS} == {k: getattr(table, k) for k in PLAIN_KEYS}
    for bad in ('threads = "2"', "threads = 0", "threads = true", "name = 5", 'models_in_one_step = "yes"'):
        assert _plain_tool_kontor(f"[tool.kontor]\n{bad}\n", "p") is None, bad
