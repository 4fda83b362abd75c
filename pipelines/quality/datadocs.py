"""GX Data Docs for the gates, under ``target/data_docs/``, built and viewable without a network.

Pages are rendered by GX's own renderers and templates (``ValidationResultsPageRenderer``,
``ExpectationSuitePageRenderer``, ``DefaultJinjaPageView``) into GX's site layout
(``validations/<suite>/<run>/<time>/<batch>.html``, ``expectations/<suite>.html``, ``static/``),
so the pages are the ones GX's site builder writes. Kontor renders them itself rather than
through a FileDataContext's site builder because the builder compiles GX's Jinja templates
afresh for every page (0.25 s a page; one cached view: about 0.03 s).

GX's templates point at CDNs (bootstrap, jQuery, vega, font-awesome) and at an S3 logo carrying
``?d=<now>&dataContextId=<uuid>`` (a beacon), so every page is rewritten as it is written
(``make_offline``): the logo to the copy GX ships in ``static/images``, CDN tags dropped. The
pages keep all their content, which GX renders server-side; plain ``<a href>`` links stay (a
click, not a fetch). GX's own index is a bootstrap-table drawn by JavaScript, so Kontor writes a
script-free ``index.html`` listing the latest runs of every gated asset. Each page has the
result's JSON beside it; pages older than the last ``KEEP_RUNS`` runs of an asset are deleted.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import os
import re
import shutil
from pathlib import Path

import great_expectations as gx
from great_expectations.core.run_identifier import RunIdentifier

KEEP_RUNS = 30
FETCHING_TAG = re.compile(r'<(script|link|img)\b[^>]*?(?:src|href)="(https?://[^"]+)"[^>]*?>(?:\s*</script>)?', re.S)
S3_ASSET = re.compile(r"https://great-expectations-web-assets\.s3\.us-east-2\.amazonaws\.com/([\w.-]+)(\?[^\"')\s]*)?")
_view = None


def _render(document) -> str:
    """GX's page view, created once: its Jinja environment caches the compiled templates."""
    global _view
    if _view is None:
        from great_expectations.render.view import DefaultJinjaPageView

        _view = DefaultJinjaPageView()
    return _view.render(document, data_context_id=None, show_how_to_buttons=False)


class DataDocs:
    """The Data Docs site of one target directory."""

    def __init__(self, target_dir: Path):
        self.site = Path(target_dir) / "data_docs"
        self.manifest = self.site / "kontor_runs.json"

    def _static(self) -> None:
        marker = self.site / "static" / ".great_expectations_version"
        if marker.exists() and marker.read_text() == gx.__version__:
            return
        shutil.copytree(Path(gx.__file__).parent / "render" / "view" / "static", self.site / "static", dirs_exist_ok=True)
        css = self.site / "static" / "styles" / "data_docs_default_styles.css"   # dark-mode logo from S3
        css.write_text(S3_ASSET.sub("../images/logo-long.png", css.read_text(encoding="utf-8")), encoding="utf-8")
        marker.write_text(gx.__version__)

    def publish(self, asset: str, suite: gx.ExpectationSuite, result, run_id: str, run_time: dt.datetime) -> Path:
        """Render one suite result (and the suite, when it changed); returns the page's path."""
        from great_expectations.render.renderer import ExpectationSuitePageRenderer, ValidationResultsPageRenderer

        self._static()
        suite_dir = Path(*suite.name.split("."))
        result.meta["run_id"] = RunIdentifier(run_name=run_id, run_time=run_time)
        result.meta["validation_time"] = run_time
        page = self.site / "validations" / suite_dir / run_id / run_time.strftime("%Y%m%dT%H%M%S.%fZ") / f"{suite.name}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(_render(ValidationResultsPageRenderer().render(result)), encoding="utf-8")
        page.with_suffix(".json").write_text(json.dumps(result.to_json_dict(), default=str), encoding="utf-8")
        pages = [page]
        suite_page = self.site / "expectations" / suite_dir.with_suffix(".html")
        suite_json = json.dumps(suite.to_json_dict(), sort_keys=True, default=str)
        digest = hashlib.sha256(suite_json.encode()).hexdigest()[:16]
        if not suite_page.exists() or f"kontor-suite:{digest}" not in suite_page.read_text(encoding="utf-8"):
            suite_page.parent.mkdir(parents=True, exist_ok=True)
            suite_page.write_text(_render(ExpectationSuitePageRenderer().render(suite)) +
                                  f"\n<!-- kontor-suite:{digest} -->\n", encoding="utf-8")
            pages.append(suite_page)
        make_offline(self.site, pages)
        self._record(asset, suite, result, run_id, run_time, page)
        return page

    def _record(self, asset: str, suite, result, run_id: str, run_time: dt.datetime, page: Path) -> None:
        runs = json.loads(self.manifest.read_text()) if self.manifest.exists() else []
        stats = result.statistics
        runs.append({"asset": asset, "suite": suite.name, "run_id": run_id, "run_time": run_time.isoformat(),
                     "success": bool(result.success), "passed": stats.get("successful_expectations"),
                     "evaluated": stats.get("evaluated_expectations"), "page": page.relative_to(self.site).as_posix()})
        runs = self._prune(runs)
        self.manifest.write_text(json.dumps(runs, indent=1))
        write_index(self.site, runs)

    def _prune(self, runs: list[dict]) -> list[dict]:
        keep, per_asset = [], {}
        for run in sorted(runs, key=lambda r: r["run_time"], reverse=True):
            per_asset[run["asset"]] = per_asset.get(run["asset"], 0) + 1
            if per_asset[run["asset"]] <= KEEP_RUNS:
                keep.append(run)
            else:
                shutil.rmtree(self.site / "validations" / Path(*run["suite"].split(".")) / run["run_id"], ignore_errors=True)
        return sorted(keep, key=lambda r: r["run_time"])


def make_offline(site: Path, pages: list[Path]) -> list[str]:
    """Rewrite what GX's HTML would fetch when opened; returns the URLs still fetchable (none expected)."""
    left = []
    for page in pages:
        if not page.exists():
            continue
        static = os.path.relpath(site / "static", page.parent)
        text = page.read_text(encoding="utf-8")

        def local(m: re.Match) -> str:
            url = m.group(2)
            if "great-expectations-web-assets" in url:
                return m.group(0).replace(url, _local_image(site, static, url))
            return f"<!-- kontor: offline, dropped {html.escape(url.split('?')[0])} -->"

        text = FETCHING_TAG.sub(local, text)
        text = S3_ASSET.sub(lambda m: _local_image(site, static, m.group(0)), text)  # inline scripts
        # GX's favicon.j2 counts one directory too few on validation pages
        text = re.sub(r"""(?<=["'(])(?:\.\./)+static/""", static + "/", text)
        page.write_text(text, encoding="utf-8")
        left += [f"{page.name}: {u}" for u in fetchable_urls(text)]
    return left


def _local_image(site: Path, static: str, url: str) -> str:
    name = url.split("?")[0].rsplit("/", 1)[-1]
    return f"{static}/images/{name if (site / 'static' / 'images' / name).exists() else 'logo-long.png'}"


def fetchable_urls(text: str) -> list[str]:
    """http(s) URLs a browser would load on opening the page (links a user clicks do not count)."""
    scan = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    scan = re.sub(r'<a\b[^>]*href="https?://[^"]*"', "", scan)
    return re.findall(r'https?://[^\s"\'<>)]+', scan)


def write_index(site: Path, runs: list[dict]) -> Path:
    latest: dict[str, dict] = {}
    for run in runs:
        latest[run["asset"]] = run
    rows = []
    for asset in sorted(latest):
        history = [r for r in runs if r["asset"] == asset][::-1]
        cells = " ".join(f'<a href="{html.escape(r["page"])}" title="{html.escape(r["run_time"])}">'
                         f'{"✓" if r["success"] else "✗"}</a>' for r in history)
        last = latest[asset]
        rows.append(f"<tr><td>{html.escape(asset)}</td><td class={'ok' if last['success'] else 'fail'}>"
                    f"{'PASS' if last['success'] else 'FAIL'}</td><td>{last['passed']}/{last['evaluated']}</td>"
                    f"<td><a href=\"{html.escape(last['page'])}\">{html.escape(last['run_time'][:19])}</a></td>"
                    f"<td>{cells}</td></tr>")
    page = ("<!doctype html><html><head><meta charset=utf-8><title>Kontor quality gates</title>"
            "<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 10px;text-align:left}"
            ".ok{color:#060}.fail{color:#b00;font-weight:bold}a{text-decoration:none}</style></head><body>"
            "<h1>Kontor quality gates</h1><p>Latest validation of every gated asset, newest run first in the "
            "history. Each page is Great Expectations' own rendering of the result.</p>"
            "<table><tr><th>asset</th><th>status</th><th>passed</th><th>last run (UTC)</th><th>history</th></tr>"
            + "".join(rows) + "</table></body></html>")
    path = site / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
