"""``_line`` after records the CSV parser rejects and blank lines, on both ways ingest numbers
lines: the shift written inline as SQL (up to ``ingest._INLINE_STEPS_MAX`` steps) and the
``_lines`` table joined on rowid (beyond). Each record's id is its physical line, so every loaded
row must have ``_line == id`` and every quarantined record the line it is on."""
from __future__ import annotations

import random
from pathlib import Path

import duckdb
import pytest

from pipelines.core import yamlfile
from pipelines.sources import ingest
from pipelines.sources.ingest import ingest_table
from pipelines.sources.spec import parse_sources
from pipelines.core.warehouse import connect

SOURCES = """
sources:
  - name: shop
    format: {type: csv, delimiter: ";", decimal_separator: ","}
    tables:
      - name: orders
        location: shop/orders.csv
        columns:
          - {name: id, data_type: integer, required: true}
          - {name: amount, data_type: "decimal(10,2)"}
"""


def _write(path: Path, records: int, ragged: int, blanks: int, bad_amounts: int, seed: int):
    """A file of ``records`` lines after the header, some ragged, some blank, some with a bad amount;
    returns (ragged lines, bad-amount lines, blank lines, good lines)."""
    rng = random.Random(seed)
    lines = list(range(2, records + 2))
    picked = rng.sample(lines, ragged + blanks + bad_amounts)
    ragged_lines = set(picked[:ragged])
    blank_lines = set(picked[ragged:ragged + blanks])
    bad_lines = set(picked[ragged + blanks:])
    out = ["id;amount"]
    for line in lines:
        if line in blank_lines:
            out.append("")
        elif line in ragged_lines:
            out.append(f"{line};1,00;extra")
        elif line in bad_lines:
            out.append(f"{line};n/a")
        else:
            out.append(f"{line};{line % 1000},{line % 100:02d}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    good = set(lines) - ragged_lines - blank_lines - bad_lines
    return ragged_lines, bad_lines, blank_lines, good


def _steps(lines: set[int]) -> int:
    """How many line steps ingest sees: runs of consecutive rejected or blank lines."""
    return sum(1 for line in lines if line - 1 not in lines)


# 300,000 records: more than two of DuckDB's row groups, so both threads write raw at once (in no
# particular order between them; ``_line`` is the file's order)
@pytest.mark.parametrize("records, ragged, blanks", [(6000, 0, 0), (6000, 1, 0), (6000, 37, 5),
                                                     (6000, 2 * ingest._INLINE_STEPS_MAX, 3), (300_000, 37, 5)])
def test_every_row_keeps_its_physical_line(tmp_path: Path, records: int, ragged: int, blanks: int):
    table = parse_sources(yamlfile.loads(SOURCES, "sources.yml"), "sources.yml").tables[0]
    data = tmp_path / "data"
    ragged_lines, bad_lines, blank_lines, good = _write(data / "shop" / "orders.csv", records, ragged, blanks, 11, seed=ragged)
    if ragged > ingest._INLINE_STEPS_MAX:     # the _lines table, not the inline CASE
        assert _steps(ragged_lines | blank_lines) > ingest._INLINE_STEPS_MAX
    con = connect(tmp_path / "w.duckdb")
    try:
        [f] = ingest_table(con, table, data, tmp_path / "tmp").files
        assert f.status == "loaded", f.message
        assert (f.rows_loaded, f.rows_quarantined) == (len(good), len(ragged_lines) + len(bad_lines))
        rows = con.execute("select id, _line from raw.shop__orders").fetchall()
        assert all(i == line for i, line in rows), [r for r in rows if r[0] != r[1]][:5]
        assert {i for i, _ in rows} == good
        quarantined = con.execute("select line, reason from kontor.quarantine").fetchall()
        assert {line for line, _ in quarantined} == ragged_lines | bad_lines
        assert all("n/a" in reason for line, reason in quarantined if line in bad_lines)
    finally:
        con.close()


def test_inline_shift_matches_the_steps():
    """The bisecting CASE gives, for every rowid, the n of the last step at or before it (0 before the first)."""
    rng = random.Random(7)
    for count in (1, 2, 3, 10, 97):
        ks = sorted(rng.sample(range(1, 5000), count))
        steps = [(k, n) for n, k in enumerate(ks, start=1)]
        sql = ingest._bisect_steps(steps, 0, len(steps), "t")
        got = duckdb.sql(f"select t.rowid, {sql} from (select range as rowid from range(5100)) as t order by 1").fetchall()
        want = [(r, max([n for k, n in steps if k <= r], default=0)) for r in range(5100)]
        assert got == want
