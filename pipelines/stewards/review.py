"""The stewards' review page: the whole queue, ranked, one item's records side by side with where
each came from, and one button per decision; every decision is launched as a run of Dagster's
``steward_decision`` job through the UI's GraphQL API, signed with the steward's identity.

``kontor steward review`` serves it (loopback by default); the review-queue asset links to it.
Who decides comes from the trusted proxy header or a local account (HTTP Basic), see
:mod:`pipelines.stewards.identity`; a request with neither is answered 401. A decision needs at most two
clicks from the queue: the item, then the button.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jinja2
from markupsafe import Markup, escape

from pipelines.core.errors import KontorError
from pipelines.stewards.identity import Identity, from_request, sign, steward_settings
from pipelines.core.settings import Settings
from pipelines.core.state import StateStore

JOB = "steward_decision"
LOCATIONS = """{ repositoriesOrError { ... on RepositoryConnection { nodes {
    name location { name } jobs { name } } } } }"""
LAUNCH = """mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) {
    __typename ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { errors { message } } ... on Error { message } } }"""
RUN = """query Run($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { status } } }"""
FAILURES = """query Logs($runId: ID!) { logsForRun(runId: $runId) { ... on EventConnection { events {
    __typename ... on ExecutionStepFailureEvent { error { message } } } } } }"""

PAGE = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }} · Kontor stewards</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222} table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top} th{background:#f3f3f3}
.open{color:#b35900} .pending{color:#0057b3} .decided{color:#2a7a2a} .diff{background:#fff3cd}
button{font-size:14px;padding:.45em 1em;margin:.2em .4em .2em 0;cursor:pointer} .msg{padding:.6em;border:1px solid #999;margin:.5em 0}
.fail{border-color:#b00;background:#fee} .ok{border-color:#2a7a2a;background:#efe} small{color:#666}
</style></head><body>
<p><a href="/">Review queue</a> · <a href="/spot-checks">Weekly spot checks</a> · signed in as <b>{{ who.name }}</b> <small>({{ who.method }})</small></p>
{% if message %}<div class="msg {{ 'ok' if ok else 'fail' }}" id="message">{{ message }}</div>{% endif %}
{{ body }}
</body></html>""")

QUEUE = jinja2.Environment(autoescape=True).from_string("""
<h1>Review queue</h1>
{% for entity, items in groups %}
<h2>{{ entity }}: {{ items|selectattr('status', 'equalto', 'open')|list|length }} open,
 {{ items|selectattr('status', 'equalto', 'pending')|list|length }} pending approval</h2>
<table><tr><th>#</th><th>status</th><th>item</th><th>why</th><th>p</th><th>records</th></tr>
{% for i in items %}<tr class="{{ i.status }}"><td>{{ i.rank or '' }}</td><td class="{{ i.status }}">{{ i.status }}</td>
<td><a href="/item?entity={{ entity|urlencode }}&amp;id={{ i.item_id|urlencode }}">{{ i.item_id }}</a></td>
<td>{{ i.reason }}</td><td>{{ '%.3f'|format(i.match_probability) if i.match_probability is not none else '' }}</td>
<td>{{ i.members|map(attribute='label')|select|join(' · ') }}</td></tr>{% endfor %}
</table>{% endfor %}""")

ITEM = jinja2.Environment(autoescape=True).from_string("""
<h1>{{ item.item_id }} <span class="{{ item.status }}">({{ item.status }})</span></h1>
<p>{{ item.reason }}{% if item.match_probability is not none %} — match probability {{ '%.3f'|format(item.match_probability) }}{% endif %}</p>
{% if item.members %}<table id="records"><tr><th></th>{% for m in item.members %}<th>{{ m.system }} {{ m.source_id }}</th>{% endfor %}</tr>
<tr><th>from</th>{% for m in item.members %}<td><small>{{ m.origin }}</small></td>{% endfor %}</tr>
<tr><th>golden id</th>{% for m in item.members %}<td>{{ m.golden_id or '' }}</td>{% endfor %}</tr>
{% for a in attributes %}<tr{% if a in differing %} class="diff"{% endif %}><th>{{ a }}</th>{% for m in item.members %}<td>{{ m[a] or '' }}</td>{% endfor %}</tr>{% endfor %}
</table>{% endif %}
{% if item.status == 'decided' %}<p class="decided" id="decided">Decided.</p>{% endif %}
{% for label, fields in actions %}<form method="post" action="/decide" style="display:inline">
<input type="hidden" name="entity" value="{{ entity }}"><input type="hidden" name="item" value="{{ item.item_id }}">
{% for k, v in fields %}<input type="hidden" name="{{ k }}" value="{{ v }}">{% endfor %}
<button type="submit">{{ label }}</button></form>{% endfor %}""")


@dataclass
class Dagster:
    """The Dagster webserver's GraphQL API."""
    url: str

    def call(self, query: str, variables: dict | None = None) -> dict:
        request = urllib.request.Request(f"{self.url.rstrip('/')}/graphql", method="POST",
                                         data=json.dumps({"query": query, "variables": variables or {}}).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                answer = json.loads(response.read())
        except OSError as exc:
            raise KontorError(f"the Dagster UI at {self.url} is not reachable ({exc}); fix: start it (kontor dev)") from None
        if answer.get("errors"):
            raise KontorError(f"Dagster GraphQL: {answer['errors'][0].get('message')}")
        return answer["data"]

    def launch(self, run_config: dict) -> str:
        repos = [r for r in self.call(LOCATIONS)["repositoriesOrError"]["nodes"] if JOB in {j["name"] for j in r["jobs"]}]
        if not repos:
            raise KontorError(f"the Dagster UI at {self.url} has no {JOB} job; fix: an entity under models/entities/")
        selector = {"repositoryLocationName": repos[0]["location"]["name"], "repositoryName": repos[0]["name"], "jobName": JOB}
        launched = self.call(LAUNCH, {"params": {"selector": selector, "runConfigData": run_config}})["launchRun"]
        if launched["__typename"] != "LaunchRunSuccess":
            raise KontorError(f"Dagster refused the run: {launched.get('message') or launched.get('errors')}")
        return launched["run"]["runId"]

    def wait(self, run_id: str, timeout: float = 120) -> tuple[str, list[str]]:
        deadline = time.monotonic() + timeout
        status = "QUEUED"
        while time.monotonic() < deadline:
            status = self.call(RUN, {"runId": run_id})["runOrError"]["status"]
            if status in ("SUCCESS", "FAILURE", "CANCELED"):
                break
            time.sleep(0.3)
        events = self.call(FAILURES, {"runId": run_id})["logsForRun"].get("events") or []
        return status, [e["error"]["message"] for e in events if e["__typename"] == "ExecutionStepFailureEvent"]


def actions(item: dict, noun: str = "company") -> list[tuple[str, list[tuple[str, str]]]]:
    """The buttons an item offers: (label, the decision's fields); no id is ever typed. ``noun``
    names what one golden record is (a company; a declared entity's name, e.g. contact)."""
    kind, _, rest = item["item_id"].partition(":")
    members = item["members"] or []
    if item["status"] == "decided":
        return []
    if kind == "decision":
        return [("Approve", [("action", "approve"), ("targets", rest)])]
    if item["status"] == "pending":
        return []
    if kind == "pair":
        a, _, b = rest.partition("|")
        return [(f"Same {noun}: merge", [("action", "merge"), ("targets", f"{a}|{b}")]),
                (f"Different {'companies' if noun == 'company' else noun + 's'}: keep apart",
                 [("action", "distinct"), ("targets", f"{a}|{b}")])]
    if kind == "cluster" and not rest.endswith(":size"):
        golden, _, attribute = rest.rpartition(":")
        values = sorted({str(m.get(attribute)) for m in members if m.get(attribute)})
        return [(f"Keep {attribute} {v}", [("action", "choose_value"), ("targets", golden), ("attribute", attribute),
                                           ("value", v)]) for v in values]
    uids = [m["unique_id"] for m in members]
    if kind == "cluster":
        return [(f"All one {noun}: confirm", [("action", "merge"), ("targets", "|".join(uids))])] + \
               [(f"Split off {m['system']} {m['source_id']}", [("action", "split"), ("targets", m["unique_id"])]) for m in members]
    return []       # a record without a usable name: nothing to choose between; split or merge on the CLI


def _label(member: dict) -> str:
    """A record's name in the queue's list: the company's name, or a declared entity's first two
    attributes as the review queue holds them (a contact's given name and surname)."""
    if "name" in member:
        return member["name"] or ""
    values = [v for k, v in member.items() if k not in ("unique_id", "system", "source_id")][:2]
    return " ".join(str(v) for v in values if v)


class ReviewApp:
    """What the page shows and does, apart from HTTP (so it can be tested and reused)."""

    def __init__(self, settings: Settings, dagster_url: str):
        self.settings = settings
        self.dagster = Dagster(dagster_url)
        self.config = steward_settings(settings)

    def identity(self, headers, peer: str) -> Identity | None:
        with StateStore.from_settings(self.settings) as store:
            return from_request(headers, peer, self.config, store)

    def queue_page(self) -> str:
        from pipelines.stewards.stewardship import queue

        items = queue(self.settings, None, "all")
        for i in items:
            i["members"] = [{**m, "label": _label(m)} for m in i["members"] or []]
        order = {"pending": 0, "open": 1, "decided": 2}
        groups: dict[str, list] = {}
        for i in sorted(items, key=lambda i: order[i["status"]]):
            groups.setdefault(i["entity"], []).append(i)
        return QUEUE.render(groups=list(groups.items()))

    def item_page(self, entity: str, item_id: str) -> str:
        from pipelines.stewards.stewardship import item_with_origins

        item = item_with_origins(self.settings, entity, item_id)
        attributes = item["attributes"]
        differing = [a for a in attributes if len({str(m.get(a) or "") for m in item["members"]}) > 1]
        return ITEM.render(item=item, entity=entity, attributes=attributes, differing=differing,
                           actions=actions(item, item["noun"]))

    def decide(self, identity: Identity, form: dict[str, str]) -> tuple[bool, str]:
        """Launch the steward job for the form's decision; (ok, what happened)."""
        targets = [t for t in form.get("targets", "").split("|") if t]
        action = form.get("action", "")
        config = {"entity": form.get("entity", ""), "action": action, "target_ids": targets,
                  "attribute": form.get("attribute") or None, "value": form.get("value") or None,
                  "comment": form.get("comment") or f"review page, item {form.get('item', '')}"}
        config["identity_token"] = sign(self.settings, identity, config)
        run_id = self.dagster.launch({"ops": {"record_decision": {"config": config}}})
        status, failures = self.dagster.wait(run_id)
        if status != "SUCCESS":
            reason = failures[0] if failures else status.lower()
            return False, f"run {run_id[:8]}: {reason}"
        return True, f"{action} recorded by {identity.name} (run {run_id[:8]}); the entity is re-resolved in the background"


def serve(settings: Settings, host: str, port: int, dagster_url: str) -> ThreadingHTTPServer:
    """The review page on ``host:port`` (a started server; ``serve_forever`` it)."""
    app = ReviewApp(settings, dagster_url)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:     # the access log is the proxy's job
            pass

        def _identity(self) -> Identity | None:
            who = app.identity(self.headers, self.client_address[0])
            if who is None:
                self._send(401, "Sign in as a steward (a local account: kontor steward add-user).",
                           {"WWW-Authenticate": 'Basic realm="Kontor stewards", charset="UTF-8"'}, html=False)
            return who

        def _send(self, code: int, text: str, headers: dict | None = None, html: bool = True) -> None:
            data = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/html; charset=utf-8" if html else "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Frame-Options", "DENY")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            who = self._identity()
            if who is None:
                return
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            try:
                if url.path == "/":
                    title, body = "Review queue", app.queue_page()
                elif url.path == "/item":
                    title, body = query.get("id", ""), app.item_page(query.get("entity", ""), query.get("id", ""))
                elif url.path == "/spot-checks":
                    from pipelines.stewards.spotchecks import spot_check_page

                    title, body = "Spot checks", spot_check_page(settings)
                else:
                    return self._send(404, "not found", html=False)
            except KontorError as exc:
                title, body = "Problem", f"<p>{escape(str(exc))}</p>"
            self._send(200, PAGE.render(title=title, body=Markup(body), who=who,
                                        message=query.get("msg"), ok=query.get("ok") == "1"))

        def do_POST(self) -> None:
            who = self._identity()
            if who is None:
                return
            # the browser sends credentials along to any site's form: only this page's own forms count
            origin = self.headers.get("Origin") or self.headers.get("Referer") or ""
            if urllib.parse.urlsplit(origin).netloc != self.headers.get("Host"):
                return self._send(403, "cross-site request refused", html=False)
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            try:
                if self.path == "/decide":
                    ok, message = app.decide(who, form)
                    back = f"/item?{urllib.parse.urlencode({'entity': form.get('entity', ''), 'id': form.get('item', '')})}"
                elif self.path == "/verdict":
                    from pipelines.stewards.spotchecks import record_verdict

                    ok, message, wrong = record_verdict(settings, who, form)
                    if wrong is not None:     # the pair the model merged is kept apart, as a steward run
                        kept, how = app.decide(who, {"entity": wrong["entity"], "action": "distinct",
                                                     "targets": wrong["object_id"],
                                                     "comment": f"spot check {wrong['sample']}: wrong merge"})
                        ok, message = ok and kept, f"{message}; {how}"
                    back = "/spot-checks?"
                else:
                    return self._send(404, "not found", html=False)
            except KontorError as exc:
                ok, message, back = False, str(exc), "/?"
            sep = "&" if "?" in back and not back.endswith("?") else ""
            self._send(303, "", {"Location": f"{back}{sep}{urllib.parse.urlencode({'msg': message, 'ok': int(ok)})}"})

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
