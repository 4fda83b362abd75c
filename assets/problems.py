"""Broken project files as assets that fail: the code location stays loadable around them.

A model whose file (or properties) has a problem keeps its asset key, so the models downstream
still depend on it and wait; materialising it fails with the ``file:line`` problems. Any other
broken file (an entity, expectation or report file, a macro) becomes one asset under
``problems/`` that fails the same way, so the UI lists what to fix.
"""
# No `from __future__ import annotations`: Dagster reads the context annotation at definition time.
import dataclasses
import re

import dagster as dg

from pipelines.core.errors import Problem
from pipelines.models.compile import CompiledProject, _order
from pipelines.models.project import Model

GROUP = "problems"


def healthy_models(compiled: CompiledProject) -> tuple[CompiledProject, dict[str, list[Problem]], list[Problem]]:
    """(the project ordered without its broken models, broken model -> its problems, the problems of
    files that are no model). The broken models stay in ``models`` so the keys of refs to them resolve."""
    files: dict[str, list[Problem]] = {}
    for problem in compiled.problems:
        files.setdefault(problem.file, []).append(problem)
    broken: dict[str, list[Problem]] = {}
    for name, model in compiled.project.models.items():
        found = files.get(model.rel_path, []) + (files.get(model.properties.file, []) if model.properties.file else [])
        if found:
            broken[name] = found
    while True:   # a cycle among the remaining models: its first model is broken too
        cycle: list[Problem] = []
        order = _order({n: cm for n, cm in compiled.models.items() if n not in broken}, cycle)
        if not cycle:
            break
        name = next(n for n, m in compiled.project.models.items() if m.rel_path == cycle[0].file and n not in broken)
        broken[name] = cycle
    model_files = {p.file for found in broken.values() for p in found}
    others = [p for p in compiled.problems if p.file not in model_files]
    return dataclasses.replace(compiled, order=order, problems=[]), broken, others


def _failing(key: dg.AssetKey, group: str, what: str, problems: list[Problem], deps=()) -> dg.AssetsDefinition:
    text = "\n".join(str(p) for p in problems)

    @dg.asset(key=key, group_name=group, deps=list(deps), kinds={"kontor"},
              description=f"{what} has problems; fix the file, then reload the code location.\n\n```\n{text}\n```",
              metadata={"problems": dg.MetadataValue.md(f"```\n{text}\n```"), "file": problems[0].file},
              tags={"kontor/broken": "true"})
    def _broken(context: dg.AssetExecutionContext) -> None:
        raise dg.Failure(description=f"{what} cannot be built:\n{text}")

    return _broken


def broken_model_asset(model: Model, problems: list[Problem]) -> dg.AssetsDefinition:
    """The model's own key, failing with its problems."""
    return _failing(dg.AssetKey([model.schema, model.name]), model.group, f"model {model.rel_path}", problems)


def broken_file_asset(file: str, problems: list[Problem]) -> dg.AssetsDefinition:
    """``problems/<file as a name>``, failing with the file's problems."""
    return _failing(dg.AssetKey([GROUP, re.sub(r"\W+", "_", file).strip("_") or "project"]), GROUP, file, problems)
