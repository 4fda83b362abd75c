"""One language per report: the shipped reports are German by default without English words a
German reader would trip over, and English is available."""
from __future__ import annotations

import re

import pypdfium2 as pdfium
import pytest

from pipelines.run import issue_by_hand
from reports.conftest import isolated
from reports.test_pdf import PERIODS, issued

# English words (engineering terms included) that must not appear in a German report. Data
# values (customer names, the demo's region names) are the data's, not the report's.
ENGLISH = ["customer", "supplier", "endpoint", "configured", "LLM", "duplicates", "review", "records", "invalid",
           "gates", "passed", "open", "week", "source", "table", "entity", "golden name", "data as of", "no data",
           "previous", "last year", "template", "commentary", "anomalies"]


def text_of(path) -> str:
    pdf = pdfium.PdfDocument(str(path))
    try:
        return " ".join(page.get_textpage().get_text_range() for page in pdf)
    finally:
        pdf.close()


def english_words(text: str) -> list[str]:
    return sorted({w for w in ENGLISH if re.search(rf"(?<![\w/.]){re.escape(w)}(?![\w/.])", text, re.I)})


@pytest.mark.parametrize("name", sorted(PERIODS))
def test_the_shipped_reports_are_german_through_and_through(demo, name):
    record, folder = issued(demo, name)
    text = text_of(folder / record["pdf"])
    # SQL file names and sha256 on the provenance page are identifiers, not words.
    text = re.sub(r"reports/\S+|\b[0-9a-f]{64}\b|[a-z_]+\.[a-z_]+", " ", text)
    assert english_words(text) == []


def test_english_is_available_as_its_own_series(demo, tmp_path):
    settings = isolated(demo, tmp_path)
    result = issue_by_hand(settings, "master_data_quality", None, language="en")
    assert result.path.endswith(".pdf") and "/master_data_quality_en/" in result.path
    text = text_of(result.path)
    assert "Master data quality" in text and "Duplicates (as of the load)" in text and "Stammdaten" not in text
    assert result.facts["report"] == "master_data_quality_en" and result.facts["language"] == "en"
