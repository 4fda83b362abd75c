"""GX Data Docs from Kontor's validation results, built and viewable without network.

build_site(): FileDataContext under <target>/gx (GX's own site builder, incremental), then
make_offline(): rewrites every remote asset reference GX's templates emit:
  * CDN CSS/JS (bootstrap, bootstrap-table, jquery, popper, vega, font-awesome, datepicker)
    -> <site>/static/vendor/<file> when Kontor vendors that file, otherwise the tag is dropped;
  * the S3 logo (with ?d=<now>&dataContextId=<uuid>, i.e. a beacon) -> the logo GX ships in
    <site>/static/images/;
  * plain <a href="https://..."> links stay (they are links, not fetches).
Without vendored JS the validation pages still carry all content (server-rendered HTML); only
the index page's table is rendered client-side by bootstrap-table, so write_index() adds a
plain-HTML index (kontor_index.html) that needs no script.
"""
from __future__ import annotations

import html
import os
import re

import great_expectations as gx
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)

SITE_REL = "gx/uncommitted/data_docs/local_site"
# remote URL -> file name Kontor would vendor under static/vendor/
CDN_FILES = {
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table.min.css",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": "bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": "bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": "bootstrap-datepicker.min.css",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": "bootstrap-prefers-dark.css",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "fontawesome.all.min.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery-3.7.1.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.min.js",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": "bootstrap-table-filter-control.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": "bootstrap-datepicker.min.js",
}
FETCHING_TAG = re.compile(r'<(script|link|img)\b[^>]*?(?:src|href)="(https?://[^"]+)"[^>]*?>(?:\s*</script>)?', re.S)


def build_site(project_root: str, suite: gx.ExpectationSuite, result, run_name: str,
               batch_identifier: str) -> tuple[str, ValidationResultIdentifier]:
    """Store suite + result in a FileDataContext and (incrementally) build its local site."""
    ctx = gx.get_context(mode="file", project_root_dir=project_root)
    ctx.enable_analytics(False)
    try:
        ctx.suites.delete(suite.name)
    except Exception:  # noqa: BLE001 - first run
        pass
    ctx.suites.add(gx.ExpectationSuite(name=suite.name, expectations=[
        e.configuration.to_domain_obj() for e in suite.expectations]))
    run_id = result.meta.get("run_id")
    if not isinstance(run_id, RunIdentifier):
        run_id = RunIdentifier(run_name=run_name)
        result.meta["run_id"] = run_id
    vr_id = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.name),
        run_id=run_id, batch_identifier=batch_identifier)
    ctx.validation_results_store.set(vr_id, result)
    ctx.build_data_docs(resource_identifiers=[vr_id, ExpectationSuiteIdentifier(name=suite.name)])
    return os.path.join(project_root, SITE_REL), vr_id


def make_offline(site_dir: str) -> dict:
    """Rewrite remote asset references in every page; return what was found/kept."""
    vendor = os.path.join(site_dir, "static", "vendor")
    report = {"pages": 0, "vendored": 0, "dropped": 0, "remaining_fetches": []}
    for root, _, files in os.walk(site_dir):
        for f in files:
            if f.endswith(".css"):  # static/styles/*.css: dark-mode logo url('https://...s3...')
                path = os.path.join(root, f)
                rel_img = os.path.relpath(os.path.join(site_dir, "static", "images"), root)
                css = open(path, encoding="utf-8").read()
                css = re.sub(r"https://great-expectations-web-assets\.s3\.us-east-2\.amazonaws\.com/[\w.-]+",
                             f"{rel_img}/logo-long.png", css)
                report["remaining_fetches"] += [f"{os.path.relpath(path, site_dir)}: {u}"
                                                for u in re.findall(r"url\(['\"]?(https?://[^'\")]+)", css)]
                open(path, "w", encoding="utf-8").write(css)
                continue
            if not f.endswith(".html"):
                continue
            path = os.path.join(root, f)
            rel_static = os.path.relpath(os.path.join(site_dir, "static"), root)
            text = open(path, encoding="utf-8").read()

            def repl(m):
                tag, url = m.group(1), m.group(2)
                if "great-expectations-web-assets" in url:  # logo beacon -> shipped local copy
                    name = url.split("?")[0].rsplit("/", 1)[-1]
                    return m.group(0).replace(url, f"{rel_static}/images/{name}")
                base = url.split("?")[0]
                local = CDN_FILES.get(base)
                if local and os.path.exists(os.path.join(vendor, local)):
                    report["vendored"] += 1
                    out = m.group(0).replace(url, f"{rel_static}/vendor/{local}")
                    return re.sub(r'\s(integrity|crossorigin)="[^"]*"', "", out)
                report["dropped"] += 1
                return f"<!-- kontor: offline, dropped {html.escape(base)} -->"

            text = FETCHING_TAG.sub(repl, text)
            # the same S3 host is also used from inline scripts (dark-mode logo swap)
            text = re.sub(r"https://great-expectations-web-assets\.s3\.us-east-2\.amazonaws\.com/([\w.-]+)",
                          lambda m: f"{rel_static}/images/" + (m.group(1) if os.path.exists(
                              os.path.join(site_dir, "static", "images", m.group(1))) else "logo-long.png"), text)
            # anything still reachable: URLs outside <a href="..."> and outside comments
            scan = re.sub(r"<!--.*?-->", "", text, flags=re.S)
            scan = re.sub(r'<a\b[^>]*href="https?://[^"]*"', "", scan)
            left = re.findall(r'https?://[^\s"\'<>)]+', scan)
            report["remaining_fetches"] += [f"{os.path.relpath(path, site_dir)}: {u}" for u in left]
            open(path, "w", encoding="utf-8").write(text)
            report["pages"] += 1
    return report


def write_index(project_root: str) -> str:
    """A script-free index of every stored validation result (GX's index table needs bootstrap-table JS)."""
    ctx = gx.get_context(mode="file", project_root_dir=project_root)
    store = ctx.validation_results_store
    site = os.path.join(project_root, SITE_REL)
    rows = []
    for key in sorted(store.list_keys(), key=lambda k: str(k.run_id.run_time), reverse=True):
        res = store.get(key)
        suite = key.expectation_suite_identifier.name
        rt = key.run_id.run_time.strftime("%Y%m%dT%H%M%S.%fZ")
        href = f"validations/{suite}/{key.run_id.run_name}/{rt}/{key.batch_identifier}.html"
        st = res.statistics
        rows.append(f"<tr><td>{'PASS' if res.success else 'FAIL'}</td><td><a href=\"{html.escape(href)}\">"
                    f"{html.escape(suite)}</a></td><td>{html.escape(str(key.run_id.run_name))}</td>"
                    f"<td>{html.escape(str(key.run_id.run_time))}</td><td>{html.escape(str(key.batch_identifier))}</td>"
                    f"<td>{st.get('successful_expectations')}/{st.get('evaluated_expectations')}</td></tr>")
    page = ("<!doctype html><meta charset=utf-8><title>Kontor quality gates</title>"
            "<link rel=stylesheet href=static/styles/data_docs_default_styles.css>"
            "<h1>Kontor quality gates</h1><table border=1 cellpadding=4><tr><th>status</th><th>suite</th>"
            "<th>run</th><th>time</th><th>batch</th><th>passed</th></tr>" + "".join(rows) + "</table>")
    path = os.path.join(site, "kontor_index.html")
    open(path, "w", encoding="utf-8").write(page)
    return path
