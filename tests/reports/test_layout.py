"""The PDFs looked at: pages turned into images (pdfium) and measured. No page is more than half
empty except the last; a KPI's headline, value and history chart sit on one page."""
from __future__ import annotations

import re

import pypdfium2 as pdfium
import pytest

from pipelines.reports.figures import format_value
from reports.test_pdf import PERIODS, issued

FOOTER = 0.92          # the running footer sits below this share of the page height


def filled(page) -> float:
    """How far down the page the content reaches (0..1), measured on the rendered image."""
    image = page.render(scale=0.5).to_pil().convert("L")
    width, height = image.size
    pixels = image.load()
    inked = [y for y in range(int(height * FOOTER)) if any(pixels[x, y] < 200 for x in range(0, width, 2))]
    return max(inked) / height if inked else 0.0


@pytest.mark.parametrize("name", sorted(PERIODS))
def test_no_page_is_more_than_half_empty_except_the_last(demo, name):
    record, folder = issued(demo, name)
    pdf = pdfium.PdfDocument(str(folder / record["pdf"]))
    try:
        fills = [filled(page) for page in pdf]
    finally:
        pdf.close()
    assert len(fills) >= 2 and all(f >= 0.5 for f in fills[:-1]), fills


@pytest.mark.parametrize("name", sorted(PERIODS))
def test_a_kpis_headline_value_and_chart_share_a_page(demo, name):
    import json

    record, folder = issued(demo, name)
    facts = json.loads((folder / record["facts"]).read_text())["facts"]
    pdf = pdfium.PdfDocument(str(folder / record["pdf"]))
    try:
        pages = [" ".join(page.get_textpage().get_text_range().split()) for page in pdf]
    finally:
        pdf.close()
    history = "Verlauf" if facts["language"] == "de" else "History"
    charted = 0
    for kpi in facts["kpis"]:
        caption = f"{history} · {kpi['label']}"
        where = [i for i, text in enumerate(pages) if caption in text]
        if not where or kpi["status"] != "ok":
            continue
        charted += 1
        value = format_value(kpi["value"], kpi["unit"], kpi["decimals"], facts["language"])
        text = pages[where[0]]
        block = re.escape(kpi["label"]) + r"\s.*?" + re.escape(value) + r".*?" + re.escape(caption)
        assert re.search(block, text), (kpi["name"], where)
    assert charted >= (5 if name == "monthly_pack" else 1) or name == "master_data_quality"
