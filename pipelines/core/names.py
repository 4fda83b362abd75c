"""One name for one model in every command: ``fct_invoices``, ``marts.fct_invoices`` and
``marts/fct_invoices`` are the same. A bare name is enough while it is unique; when it is not,
the error lists the candidates.

>>> resolve("marts.fct_invoices", ["raw/erp__orders", "marts/fct_invoices"])
'marts/fct_invoices'
>>> resolve("fct_invoices", ["raw/erp__orders", "marts/fct_invoices"])
'marts/fct_invoices'
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from pipelines.core.errors import KontorError

# A name as users write it: table, schema.table or schema/table (a key of more parts with '/').
NAME = re.compile(r"^[A-Za-z_][\w]*(?:[./][A-Za-z_][\w]*)*$")


def normalise(name: str) -> str:
    """``marts.fct_invoices`` -> ``marts/fct_invoices``; a bare name stays as it is."""
    return name.strip().replace(".", "/")


def candidates(name: str, keys: Iterable[str]) -> list[str]:
    """Keys the name may mean: the key itself, or every key whose last part is the bare name."""
    wanted = normalise(name).lower()
    keys = list(keys)
    exact = [k for k in keys if k.lower() == wanted]
    if exact or "/" in wanted:
        return exact
    return sorted(k for k in keys if k.lower().rsplit("/", 1)[-1] == wanted)


def suggestion(name: str, keys: Iterable[str]) -> str:
    """``; did you mean 'marts/fct_invoices'?`` over the keys and their bare names, or ''."""
    keys = sorted(keys)
    by_short: dict[str, list[str]] = {}
    for key in keys:
        by_short.setdefault(key.rsplit("/", 1)[-1], []).append(key)
    wanted = normalise(name)
    match = difflib.get_close_matches(wanted, keys, n=1) or \
        [by_short[m][0] for m in difflib.get_close_matches(wanted.rsplit("/", 1)[-1], list(by_short), n=1)]
    return f"; did you mean {match[0]!r}?" if match else ""


def resolve(name: str, keys: Iterable[str], what: str = "model") -> str:
    """The one key ``name`` means; a ``KontorError`` naming the candidates otherwise."""
    keys = list(keys)
    found = candidates(name, keys)
    if len(found) == 1:
        return found[0]
    if found:
        raise KontorError(f"{name!r} is ambiguous: {', '.join(found)}; fix: write one of them")
    raise KontorError(f"unknown {what} {name!r}{suggestion(name, keys)}")


SELECTION_EXAMPLES = "e.g. fct_invoices, marts.fct_invoices+, +fct_invoices, group:raw, 'key:raw/*'"
# A selection that is one name with Dagster's up/downstream marks: 2+fct_invoices, fct_invoices+, *x
_NAME_SELECTION = re.compile(r"^(?P<up>\d*\+|\*)?(?P<name>[A-Za-z_][\w]*(?:[./][A-Za-z_][\w]*)*)(?P<down>\+\d*|\*)?$")
_GROUP_TERM = re.compile(r"\bgroup:\"?([\w-]+)\"?")


def selection_text(text: str, keys: Iterable[str], groups: Iterable[str]) -> str:
    """Dagster's selection syntax for ``text``; a model name in any of its forms becomes its key,
    a group's bare name its ``group:``. Needs only the keys and groups, not Dagster.

    >>> selection_text("fct_invoices+", ["marts/fct_invoices", "raw/erp__orders"], ["marts", "raw"])
    'key:"marts/fct_invoices"+'
    >>> selection_text("raw", ["marts/fct_invoices", "raw/erp__orders"], ["marts", "raw"])
    'group:raw'
    """
    from pipelines.core.errors import did_you_mean

    keys, groups = list(keys), sorted(groups)
    hint = f"groups: {', '.join(groups)}; {SELECTION_EXAMPLES}"
    named = _NAME_SELECTION.match(text.strip())
    if named:
        name = named["name"]
        if name in groups and not candidates(name, keys):
            return f"{named['up'] or ''}group:{name}{named['down'] or ''}"
        found = candidates(name, keys)
        if len(found) > 1:
            raise KontorError(f"--select {text!r} is ambiguous: {', '.join(found)}; fix: write one of them")
        if not found:
            raise KontorError(f"--select {text!r}: no asset or group of that name{suggestion(name, keys + groups)}; {hint}")
        return f"{named['up'] or ''}key:\"{found[0]}\"{named['down'] or ''}"
    for group in _GROUP_TERM.findall(text):
        if group not in groups:
            raise KontorError(f"--select {text!r}: no group {group!r}{did_you_mean(group, set(groups))}; {hint}")
    return text
