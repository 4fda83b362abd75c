"""The export corpus in tests/fixtures/exports: every file loaded against its sidecar.

Each ``<file>.expected.yml`` names the system that writes such files, the table declaration,
and the outcome: every record either loaded (with every value) or quarantined (with line, column
and reason), loaded + quarantined = the records in the file. ``make_exports.py`` writes both.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from pipelines.core import yamlfile
from pipelines.sources.ingest import ingest_table
from pipelines.sources.spec import parse_sources
from pipelines.core.warehouse import connect

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "exports"
SIDECARS = sorted(CORPUS.glob("*.expected.yml"))
NAMES = [p.name.removesuffix(".expected.yml") for p in SIDECARS]


def _table(name: str, spec: dict):
    table = {"name": "t", "location": name, **spec["table"]}
    doc = yaml.safe_dump({"sources": [{"name": "corpus", "tables": [table]}]}, allow_unicode=True)
    return parse_sources(yamlfile.loads(doc, "sources.yml"), "sources.yml").tables[0]


def test_corpus_size_and_reproducible_bytes(tmp_path: Path):
    import importlib.util

    assert len(NAMES) >= 30
    assert all((CORPUS / n).is_file() for n in NAMES)
    spec = importlib.util.spec_from_file_location("make_exports", CORPUS / "make_exports.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module          # dataclasses look their module up there
    spec.loader.exec_module(module)
    module.write(tmp_path)
    for name in NAMES:
        assert (tmp_path / name).read_bytes() == (CORPUS / name).read_bytes(), f"{name}: rerun make_exports.py"
        assert (tmp_path / f"{name}.expected.yml").read_bytes() == (CORPUS / f"{name}.expected.yml").read_bytes()


@pytest.mark.parametrize("name", NAMES)
def test_export(name: str, tmp_path: Path):
    spec = yaml.safe_load((CORPUS / f"{name}.expected.yml").read_text(encoding="utf-8"))
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(CORPUS / name, data / name)
    table = _table(name, spec)
    con = connect(tmp_path / "w.duckdb")
    [f] = ingest_table(con, table, data, tmp_path / "tmp").files

    assert f.status == spec["status"], f.message
    [(status, read, loaded, quarantined, message, encoding, meta)] = con.execute(
        "select status, rows_read, rows_loaded, rows_quarantined, message, encoding, file_meta from kontor.load_ledger").fetchall()
    assert status == spec["status"]
    if spec["status"] == "failed":
        assert name in f.message and "fix:" in f.message
        for part in spec.get("message", []):
            assert part in f.message, f.message
        return

    assert read == loaded + quarantined == spec["data_lines"], "every record loaded or quarantined"
    assert (loaded, quarantined) == (len(spec["loaded"]), len(spec["quarantined"]))

    names = [c.name for c in table.columns]
    select = ", ".join('"' + n.replace('"', '""') + '"' for n in names)
    rows = {r[0]: r[1:] for r in con.execute(f"select _line, {select} from raw.corpus__t order by _line").fetchall()}
    assert sorted(rows) == [r["line"] for r in spec["loaded"]]
    for want in spec["loaded"]:
        got = dict(zip(names, rows[want["line"]]))
        assert {k: None if v is None else str(v) for k, v in got.items()} == want["values"], f"line {want['line']}"

    actual = con.execute("select line, column_name, reason, raw_text from kontor.quarantine order by line").fetchall()
    assert [(line, column) for line, column, _, _ in actual] == [(q["line"], q["column"]) for q in spec["quarantined"]]
    for (line, _, reason, raw_text), want in zip(actual, spec["quarantined"]):
        assert want["reason"] in reason, f"line {line}: {reason}"
        assert raw_text, f"line {line}: the raw text is kept"

    for part in spec.get("notes", []):
        assert any(part in n for n in f.notes), f"{part!r} not in {f.notes}"
    if "encoding" in spec:
        assert encoding == spec["encoding"]
    if "meta" in spec:
        stored = json.loads(meta)
        assert {k: stored.get(k) for k in spec["meta"]} == spec["meta"]
    # nothing loaded mis-decoded: no UTF-8 read as cp1252 anywhere in raw
    text = json.dumps([list(map(str, r)) for r in rows.values()], ensure_ascii=False)
    assert not any(m in text for m in ("Ã", "Â", "\ufffd")), text
