"""Facts and narrative → HTML (Jinja2, autoescape always on) → PDF (WeasyPrint).

WeasyPrint fetches every URL it meets, ``file://`` included. ``folder_fetcher`` serves only files
inside the report's own folder and refuses everything else (other files, http, data smuggled in
by a name in the data), so a customer called ``<img src="file:///etc/passwd">`` is text twice
over: autoescaped by Jinja, and unfetchable even if a template marked it safe. Fonts come from
the system (DejaVu); nothing is downloaded.
"""
from __future__ import annotations

import base64
import logging
import mimetypes
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import jinja2

from pipelines.reports import charts, i18n
from pipelines.reports.figures import format_value
from pipelines.reports.spec import ReportSpec

TEMPLATES = Path(__file__).parent / "templates"


def _weasyprint():
    # WeasyPrint logs every refused URL and unsupported CSS property as a warning; the refusals
    # are recorded by the folder fetcher instead.
    import weasyprint

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    return weasyprint


def folder_fetcher(folder: Path):
    """A WeasyPrint URL fetcher that serves files of ``folder`` and nothing else; it records what
    it refused in ``.refused``."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class FolderFetcher(URLFetcher):
        def __init__(self, root: Path):
            super().__init__(allowed_protocols={"file"})
            self.root = root.resolve()
            self.refused: list[str] = []

        def fetch(self, url, headers=None):
            parsed = urlparse(url)
            path = Path(unquote(parsed.path)).resolve() if parsed.scheme == "file" and not parsed.netloc else None
            if path is None or not path.is_relative_to(self.root) or not path.is_file():
                self.refused.append(url)
                raise ValueError(f"{url}: only files of the report folder {self.root} are served")
            return URLFetcherResponse(path.as_uri(), path.read_bytes())

    return FolderFetcher(folder)


def environment(spec: ReportSpec, facts: dict) -> jinja2.Environment:
    lang = facts["language"]
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([
            jinja2.FileSystemLoader(str(spec.dir)),
            jinja2.PrefixLoader({"kontor": jinja2.FileSystemLoader(str(TEMPLATES))}),
        ]),
        autoescape=True,                 # every {{ value }} is escaped, whatever the file's extension
        undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    kpis = {k["name"]: k for k in facts["kpis"]}

    def num(value, unit=None, decimals=0, sign=False):
        return format_value(value, unit, decimals, lang, sign)

    def kpi_value(kpi, value=None, sign=False):
        return num(kpi["value"] if value is None else value, kpi["unit"], kpi["decimals"], sign)

    def delta(kpi, cmp):
        if cmp is None or cmp.get("delta") is None:
            return "–"
        if kpi["unit"] == "%":
            return num(cmp["delta"], "pp", max(kpi["decimals"], 1), True)
        return num(cmp["delta"], kpi["unit"], kpi["decimals"], True)

    def delta_class(kpi, value):
        if value is None or round(value, max(kpi["decimals"], 1)) == 0 or kpi["good"] == "neutral":
            return ""
        return "good" if (value > 0) == (kpi["good"] == "up") else "bad"

    def history_chart(kpi):
        points = kpi["history"]
        labels = [_short_label(p["period"], lang) for p in points]
        return charts.bar_chart(labels, [p["value"] for p in points], lang, kpi["unit"], kpi["decimals"],
                                highlight=len(points) - 1, title=f"{kpi['label']}: {i18n.word('history', lang)}")

    def driver_chart(kpi, driver):
        unit = "pp" if kpi["unit"] == "%" else kpi["unit"]
        decimals = max(kpi["decimals"], 1) if kpi["unit"] == "%" else kpi["decimals"]
        members = driver["members"]
        return charts.contribution_chart([m["member"] for m in members], [m["contribution"] for m in members], lang,
                                         unit, decimals, kpi["good"], title=f"{kpi['label']}: {driver['dimension']}")

    def table_chart(table, label_column, value_column, unit=None):
        names = [c["name"] for c in table["columns"]]
        rows = table["rows"]
        labels = [str(r[names.index(label_column)]) for r in rows]
        return charts.bar_chart(labels, [r[names.index(value_column)] for r in rows], lang, unit,
                                title=table["title"])

    def cell(table, column, value):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return num(value, column.get("unit"), column.get("decimals", 0))
        return "–" if value is None else value

    env.globals.update(
        # "Vormonat" in a monthly report, "Vortag" in a daily one: the reader's word for the comparison
        lang=lang, word=lambda key, **kw: i18n.word(f"previous_{facts['grain']}" if key == "previous_period" else key,
                                                    lang, **kw), kpi=lambda name: kpis[name],
        word_exists=lambda key: key in i18n.WORDS[lang],
        table=lambda name: facts["tables"][name], num=num, kpi_value=kpi_value, delta=delta,
        delta_class=delta_class, history_chart=history_chart, driver_chart=driver_chart, table_chart=table_chart,
        cell=cell, date_label=lambda text: i18n.date_label(text, lang) if text else "–",
        drivers=lambda kpi, comparison="previous_period": [d for d in kpi["drivers"] if d["comparison"] == comparison],
    )
    return env


def _short_label(key: str, lang: str) -> str:
    if len(key) == 7 and key[4] == "-":          # 2026-10 → Okt 26
        return f"{i18n.MONTHS[lang][int(key[5:]) - 1][:3]} {key[2:4]}"
    if len(key) == 10:                           # 2026-10-30 → 30.10.
        return f"{key[8:]}.{key[5:7]}." if lang == "de" else key[5:]
    return key[2:]                               # 2026-W43 → 26-W43, 2026-Q3 → 26-Q3


def render_html(spec: ReportSpec, facts: dict, narrative: dict, issue: dict) -> str:
    env = environment(spec, facts)
    template = env.get_template(spec.template.name if spec.template else "template.html.j2")
    paragraphs = [p for p in narrative["text"].split("\n\n") if p.strip()]
    return template.render(facts=facts, narrative=narrative, paragraphs=paragraphs, issue=issue, spec=spec)


_SOURCE = re.compile(r"""(\b(?:src|href)\s*=\s*)(["'])(.*?)\2""", re.I)


def offline_html(html: str, folder: Path) -> str:
    """The HTML as one self-contained file for reading offline: CSS and charts are inline already;
    files of the report's folder it refers to (a logo) are inlined as data URIs, any other
    reference is dropped, so opening it fetches nothing."""
    root = folder.resolve()

    def inline(match: re.Match) -> str:
        attribute, quote, url = match.groups()
        if url.startswith(("data:", "#")):
            return match.group(0)
        path = (root / unquote(urlparse(url).path)).resolve() if not urlparse(url).scheme else None
        if path is None or not path.is_relative_to(root) or not path.is_file():
            return f"{attribute}{quote}{quote}"
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return f"{attribute}{quote}data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}{quote}"

    return _SOURCE.sub(inline, html)


def render_pdf(html: str, folder: Path) -> tuple[bytes, int, list[str]]:
    """PDF bytes, page count, and the URLs the fetcher refused."""
    weasyprint = _weasyprint()
    fetcher = folder_fetcher(folder)
    document = weasyprint.HTML(string=html, base_url=folder.resolve().as_uri() + "/", url_fetcher=fetcher).render()
    return document.write_pdf(), len(document.pages), fetcher.refused
