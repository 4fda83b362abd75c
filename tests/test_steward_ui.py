"""The data steward's work in the Dagster UI, for real: `kontor dev` on a loopback port, the steward
job launched through the UI's GraphQL API, the review queue looked at in headless Chromium, and
the whole flow on the stewards' review page (two identities, four eyes, the golden record
changed) against the PostgreSQL state store.

`kontor dev` rather than a bare `dagster-webserver`: the instance queues launched runs
(QueuedRunCoordinator), and the daemon that `dagster dev` starts beside the webserver dequeues
them; the run then executes in a subprocess of the code server, which inherits the environment
given here (project, DAGSTER_HOME, state store).

Chromium is Debian's `chromium` package (`.ci/run` installs it if missing). It only visits this
test's own loopback server, so it runs without its sandbox (which needs root-less user
namespaces that containers often lack).
"""
from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from conftest import PG_ADMIN_URL, make_project
from test_dagster_ui import QUERY, free_port, graphql, kontor_dev, post_graphql
from pipelines.stewards.identity import Identity, add_account, sign
from pipelines.run import instance_for, prepare_dagster_home, run_pipeline
from pipelines.core.settings import Settings
from pipelines.core.state import StateStore
from pipelines.stewards.stewardship import queue

pytestmark = pytest.mark.slow     # minutes: a step of its own in .ci/run (pytest -m slow)

QUEUE_ASSET = ["entities", "customer_review_queue"]
QUEUE_PAGE = "/assets/entities/customer_review_queue"
WINDOW = (1400, 1000)
# values a test must not inherit from the shell: the UI must use the same project, instance and
# state store as this process (whose settings read no environment)
PER_MACHINE = ("DAGSTER_HOME", "KONTOR_TARGET", "KONTOR_DATA_DIR", "KONTOR_STATE_URL", "KONTOR_STATE_DIR")

LOCATIONS = """{ repositoriesOrError { ... on RepositoryConnection { nodes {
    name location { name } jobs { name } } } } }"""
LAUNCH = """mutation Launch($params: ExecutionParams!) { launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on Error { message } } }"""
RUN = """query Run($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { status } } }"""
STEP_FAILURES = """query Logs($runId: ID!) { logsForRun(runId: $runId) { ... on EventConnection { events {
    __typename ... on ExecutionStepFailureEvent { stepKey error { message } } } } } }"""
LATEST_QUEUE = """query Queue($path: [String!]!) { assetOrError(assetKey: {path: $path}) { ... on Asset {
    assetMaterializations(limit: 1) { runId metadataEntries {
        label ... on IntMetadataEntry { intValue } ... on MarkdownMetadataEntry { mdStr } } } } } }"""


@dataclass
class UI:
    settings: Settings
    port: int
    session: int          # session id of kontor dev: the webserver, daemon, code server and run workers
    job: dict             # the steward job's selector for launchRun
    review_port: int      # where the review page is to be served (the review-queue asset links to it)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


STEWARDS = """
[tool.kontor.stewards]
trusted_header = "X-Forwarded-Email"   # as oauth2-proxy sets it
trusted_proxies = ["127.0.0.1"]
"""


@pytest.fixture(scope="module")
def state_url() -> Iterator[str]:
    """A PostgreSQL database of its own for the state store, dropped afterwards."""
    import uuid

    psycopg = pytest.importorskip("psycopg")
    name = f"kontor_ui_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(PG_ADMIN_URL, autocommit=True)
    admin.execute(f'create database "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'drop database "{name}" with (force)')
        admin.close()


@pytest.fixture(scope="module")
def ui(tmp_path_factory, demo_data, state_url) -> Iterator[UI]:
    """`kontor dev` on a project where the entities were resolved once; state store on PostgreSQL."""
    root = tmp_path_factory.mktemp("steward_ui")
    settings = make_project(root / "project", with_models=True, env={"KONTOR_STATE_URL": state_url})
    review_port = free_port()
    (settings.project_dir / "pyproject.toml").write_text((settings.project_dir / "pyproject.toml").read_text() + STEWARDS
                                                         + f'review_url = "http://127.0.0.1:{review_port}/"\n')
    shutil.copytree(demo_data, settings.data_dir, dirs_exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in PER_MACHINE}
    env["KONTOR_STATE_URL"] = state_url
    env["DAGSTER_HOME"] = str(prepare_dagster_home(settings))
    instance_for(settings).dispose()   # the instance's storage exists before two processes open it
    log = root / "dev.log"
    with kontor_dev(settings.project_dir, log, env) as (port, process):
        # the UI starts while the entities resolve, as it may be open during any run
        assert run_pipeline(settings, ["+group:entities"]).success
        try:
            graphql(port, QUERY, time.monotonic() + 120)
        except TimeoutError:
            raise AssertionError(log.read_text()[-3000:]) from None
        [repo] = [r for r in post_graphql(port, LOCATIONS)["repositoriesOrError"]["nodes"]
                  if "steward_decision" in {j["name"] for j in r["jobs"]}]
        # The UI asks a first visitor on a loopback origin to join the community, in a dialog over
        # the page; this is what the dialog's Skip button sends.
        post_graphql(port, "mutation { setNuxSeen }")
        yield UI(settings, port, process.pid, {"repositoryLocationName": repo["location"]["name"],
                                               "repositoryName": repo["name"], "jobName": "steward_decision"},
                 review_port)


def launch(ui: UI, decision: dict, identity: Identity | None = None) -> str:
    """Launch the steward job with ``decision`` as its typed run config, signed for ``identity``
    as the review page signs it; the run id."""
    if identity is not None:
        fields = {k: decision.get(k) for k in ("entity", "action", "target_ids", "attribute", "value", "comment")}
        decision = {**decision, "identity_token": sign(ui.settings, identity, fields)}
    params = {"selector": ui.job, "runConfigData": {"ops": {"record_decision": {"config": decision}}}}
    launched = post_graphql(ui.port, LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def finished(ui: UI, run_id: str, timeout: float = 60) -> str:
    """Poll the run until it ends; its status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = post_graphql(ui.port, RUN, {"runId": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} still {status} after {timeout:.0f} s")


RUNS = """query Runs($filter: RunsFilter) { runsOrError(filter: $filter) { ... on Runs { results {
    runId status jobName } } } }"""


def applied(ui: UI, decision_run: str, timeout: float = 180) -> str:
    """The run the steward sensor started after ``decision_run``, once it ended: its id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = post_graphql(ui.port, RUNS, {"filter": {"tags": [{"key": "kontor/decision_run", "value": decision_run}]}})
        done = [r for r in runs["runsOrError"]["results"] if r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
        if done:
            assert done[0]["status"] == "SUCCESS" and done[0]["jobName"] == "steward_apply_customer", done
            return done[0]["runId"]
        time.sleep(1)
    raise AssertionError(f"no apply run after {decision_run} within {timeout:.0f} s")


def step_failures(ui: UI, run_id: str) -> list[str]:
    events = post_graphql(ui.port, STEP_FAILURES, {"runId": run_id})["logsForRun"]["events"]
    return [e["error"]["message"] for e in events if e["__typename"] == "ExecutionStepFailureEvent"]


def latest_queue(ui: UI) -> dict:
    """The review queue's latest materialization as the UI reads it: run id and metadata."""
    [m] = post_graphql(ui.port, LATEST_QUEUE, {"path": QUEUE_ASSET})["assetOrError"]["assetMaterializations"]
    return {"run_id": m["runId"], **{e["label"]: e.get("intValue", e.get("mdStr")) for e in m["metadataEntries"]}}


def stored(settings: Settings) -> tuple[list[dict], list[dict]]:
    store = StateStore.from_settings(settings)
    try:
        return store.decisions("customer"), store.audit()
    finally:
        store.close()


def _descendants(root: int) -> set[int]:
    """``root`` and every process below it (Linux /proc), whatever session a child started."""
    parent_of = {}
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit():
                parent_of[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):  # the process ended meanwhile
            continue
    tree, grown = {root}, True
    while grown:
        below = {pid for pid, parent in parent_of.items() if parent in tree} - tree
        tree |= below
        grown = bool(below)
    return tree


def duckdb_files_held(session: int, target: Path) -> list[str]:
    """DuckDB files under ``target`` that ``kontor dev`` (the leader of ``session``) or a process it
    started has open (Linux /proc)."""
    held, members = [], 0
    for pid in _descendants(session):
        proc = Path("/proc") / str(pid)
        try:
            members += 1
            for fd in (proc / "fd").iterdir():
                path = os.readlink(fd)
                if path.startswith(str(target)) and ".duckdb" in path:
                    held.append(f"pid {proc.name}: {path}")
        except OSError:  # the process ended meanwhile
            continue
    assert members >= 3, f"kontor dev's session {session} has {members} processes; expected webserver, daemon, code server"
    return held


def xref(settings: Settings, uid: str) -> tuple[str, str]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute("select golden_id, matched_by from entities.customer_xref where unique_id = ?", [uid]).fetchone()
    finally:
        con.close()


def test_a_decision_launched_through_graphql_is_applied_at_once(ui: UI):
    settings = ui.settings
    assert latest_queue(ui)["open_items"] == len(queue(settings, "customer")) > 0   # the UI sees the first run
    band = [i for i in queue(settings, "customer") if i["kind"] == "pair"]
    assert band, "the demo data has pairs in the review band"
    item = band[0]["item_id"]
    a, b = item.removeprefix("pair:").split("|")
    assert xref(settings, a)[0] != xref(settings, b)[0]
    before_decisions, before_audit = stored(settings)
    alice = Identity("alice", "local_account")

    # all at once: the launcher runs each in a process of its own
    merge = launch(ui, {"entity": "customer", "action": "merge", "target_ids": [a, b], "comment": f"{item}: same company"},
                   alice)
    unknown = launch(ui, {"entity": "customer", "action": "merge", "target_ids": ["crm:NOPE", a]}, alice)
    typed = launch(ui, {"entity": "customer", "action": "distinct", "target_ids": [a, b]})     # no identity: refused
    assert finished(ui, merge) == "SUCCESS", step_failures(ui, merge)
    assert finished(ui, unknown) == "FAILURE" and finished(ui, typed) == "FAILURE"
    [failure] = step_failures(ui, unknown)
    assert "unknown id" in failure and "crm:NOPE" in failure and "nothing stored" in failure
    [failure] = step_failures(ui, typed)
    assert "typed name is not accepted" in failure and "nothing stored" in failure

    decisions, audit = stored(settings)
    [decision] = decisions[len(before_decisions):]
    assert (decision["action"], set(decision["target_ids"]), decision["steward"], decision["run_id"], decision["status"]) == \
           ("merge", {a, b}, "alice", merge, "active"), "a merge of records with two valid VAT IDs waits for four eyes"
    assert {unknown, typed}.isdisjoint({d["run_id"] for d in decisions} | {e["run_id"] for e in audit})   # nothing stored
    assert audit[len(before_audit)]["after"]["authenticated_by"] == "local_account"
    # decided at once, before any run
    assert [i["status"] for i in queue(settings, "customer", "all") if i["item_id"] == item] == ["decided"]

    # the sensor re-resolves the entity without waiting for the nightly sync
    apply_run = applied(ui, merge)
    golden_a, matched_a = xref(settings, a)
    golden_b, matched_b = xref(settings, b)
    assert golden_a == golden_b and matched_a == matched_b == "steward"
    assert item not in {i["item_id"] for i in queue(settings, "customer")}
    assert latest_queue(ui)["run_id"] == apply_run                          # the UI shows the new queue
    # the UI's processes read the serving copy only while a run needs it, never hold the warehouse
    assert duckdb_files_held(ui.session, settings.target_dir) == []


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("Debian's chromium is not installed; .ci/run installs it: "
                    "apt-get install -y --no-install-recommends chromium")
    return path


def chromium_args(profile: Path) -> list[str]:
    return [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}"]


def page_text(dom: str) -> str:
    """The visible text of a DOM dump, whitespace collapsed."""
    from html import unescape

    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", dom)))


def assert_screenshot(png: Path) -> None:
    """A picture of a page, not a blank or single-colour canvas."""
    from PIL import Image

    assert png.stat().st_size > 20_000, f"{png}: only {png.stat().st_size} bytes"
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size == WINDOW
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 100, f"{png}: {len(colours)} colours"


class DevTools:
    """Chromium's DevTools protocol on one page: just enough to read, click and capture it."""

    def __init__(self, websocket_url: str):
        from websockets.sync.client import connect   # websockets comes with dagster-webserver (uvicorn[standard])

        self._ws = connect(websocket_url, max_size=None)
        self._ids = itertools.count(1)

    def call(self, method: str, **params) -> dict:
        message_id = next(self._ids)
        self._ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:   # no domain is enabled, so only answers arrive
            answer = json.loads(self._ws.recv(timeout=30))
            if answer.get("id") == message_id:
                assert "error" not in answer, answer["error"]
                return answer["result"]

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def wait_for(self, *texts: str, timeout: float = 30) -> str:
        """The page's visible text, once it holds every one of ``texts``."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.evaluate("document.body ? document.body.innerText : ''") or ""
            if all(t in text for t in texts):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"after {timeout:.0f} s the page lacks {[t for t in texts if t not in text]}: {text[:2000]}")
            time.sleep(0.25)

    def screenshot(self, png: Path) -> None:
        png.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))

    def close(self) -> None:
        self._ws.close()


@contextmanager
def browser(url: str, profile: Path) -> Iterator[DevTools]:
    """Headless Chromium showing ``url``, driven over its DevTools port."""
    process = subprocess.Popen([*chromium_args(profile), "--remote-debugging-port=0", url],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"   # Chromium writes the port it chose here
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and port_file.read_text().strip()):
            assert process.poll() is None and time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            page = next(t for t in json.loads(response.read()) if t["type"] == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        try:
            # the window's size less its (invisible) toolbars otherwise
            tools.call("Emulation.setDeviceMetricsOverride", width=WINDOW[0], height=WINDOW[1], deviceScaleFactor=1, mobile=False)
            yield tools
        finally:
            tools.close()
    finally:
        process.kill()
        process.wait(timeout=30)


def test_the_review_queue_page_shows_the_queue_in_chromium(ui: UI, tmp_path: Path):
    latest = latest_queue(ui)
    open_items = latest["open_items"]
    items = queue(ui.settings, "customer")
    assert open_items == len(items) > 0 and f"**{open_items} open item(s)**" in latest["queue"]
    first = items[0]                               # the queue's most important item, first in the Markdown too
    member = first["members"][0]

    # 1. The asset page as Chromium renders it (screenshot and DOM after the React app settled):
    # the metadata table of the latest materialization holds open_items and the queue (as Markdown
    # behind "[Show Markdown]"; the Events view shows it the same way).
    page_png = tmp_path / "review_queue_page.png"
    dumped = subprocess.run([*chromium_args(tmp_path / "cli-profile"), "--virtual-time-budget=15000",
                             f"--screenshot={page_png}", "--dump-dom", ui.url(QUEUE_PAGE)],
                            capture_output=True, text=True, timeout=90)
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    text = page_text(dumped.stdout)
    assert "customer_review_queue" in text and "Open items for data stewards" in text, text[:2000]
    assert re.search(rf"\bopen_items\b.{{0,40}}\b{open_items}\b.{{0,40}}\bqueue\b.{{0,40}}\[Show Markdown\]", text), text[:3000]
    assert "Join the Dagster community" not in text     # nothing covers the page in the screenshot
    assert_screenshot(page_png)

    # 2. What a steward sees after clicking "[Show Markdown]": the queue, records side by side.
    with browser(ui.url(QUEUE_PAGE), tmp_path / "cdp-profile") as page:
        page.wait_for("[Show Markdown]")
        page.evaluate("[...document.querySelectorAll('a')].find(a => a.textContent === '[Show Markdown]').click()")
        shown = page.wait_for(f"{open_items} open item(s)", first["item_id"], member["source_id"])
        assert re.search(r"\bname\t.*\n\s*street\t", shown), shown[:3000]        # the records' attribute rows
        assert first["reason"] in shown
        # the dialog focuses its Close button, at the bottom: scroll back to the queue's first lines
        page.evaluate("for (let e = [...document.querySelectorAll('strong')].find(s => s.textContent.endsWith('open item(s)'));"
                      " e; e = e.parentElement) e.scrollTop = 0")
        page.screenshot(tmp_path / "review_queue.png")
        assert_screenshot(tmp_path / "review_queue.png")

        # 3. The asset check on the Checks tab: its name and how many items are open.
        page.call("Page.navigate", url=ui.url(QUEUE_PAGE + "?view=checks"))
        page.wait_for("no_open_review_items", f"{open_items} open review item(s)")


def click(page: DevTools, tag: str, text: str) -> None:
    """Click the element ``tag`` whose text is ``text``, as a steward's mouse would."""
    found = page.evaluate(f"(() => {{ const e = [...document.querySelectorAll({json.dumps(tag)})]"
                          f".find(e => e.textContent.trim() === {json.dumps(text)}); if (!e) return false; e.click(); return true; }})()")
    assert found, f"no {tag} {text!r} on the page: {page.evaluate('document.body.innerText')[:1500]}"


def serving_golden(settings: Settings, gid: str) -> str | None:
    con = duckdb.connect(str(settings.serving_path), read_only=True)
    try:
        return con.execute("select iban from entities.customer_golden where golden_id = ?", [gid]).fetchone()[0]
    finally:
        con.close()


def test_the_whole_flow_on_the_review_page_in_chromium(ui: UI, tmp_path: Path):
    """Find the item, decide, see it pending, the proposer cannot approve, a second identity
    approves, the item is decided and the golden record changed; every decision a Dagster run."""
    import urllib.error

    from pipelines.stewards.review import serve

    settings = ui.settings
    with StateStore.from_settings(settings) as store:
        add_account(store, "bob", "bob's long password", Identity("admin", "os_user"))
    item = next(i for i in queue(settings, "customer") if i["item_id"].endswith(":iban"))
    gid = item["golden_ids"][0]
    value = sorted({m["iban"] for m in item["members"] if m["iban"]})[0]
    assert serving_golden(settings, gid) != value
    server = serve(settings, "127.0.0.1", ui.review_port, f"http://127.0.0.1:{ui.port}")
    home = f"http://127.0.0.1:{ui.review_port}/"
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:       # nobody authenticated: nothing shown
            urllib.request.urlopen(home, timeout=10)
        assert refused.value.code == 401
        clicks = {"alice": 0, "bob": 0}
        with browser(ui.url(QUEUE_PAGE), tmp_path / "review-profile") as page:
            page.call("Network.enable")
            page.call("Network.setExtraHTTPHeaders", headers={"X-Forwarded-Email": "alice@example.com"})
            # from the review-queue asset in the Dagster UI: its metadata links the review page
            page.call("Page.navigate", url=ui.url(QUEUE_PAGE))
            page.wait_for("review_page", timeout=60)
            href = page.evaluate(f"[...document.querySelectorAll('a')].map(a => a.href).find(h => h.startsWith({json.dumps(home)}))")
            assert href == home, href
            page.call("Page.navigate", url=href); clicks["alice"] += 1     # the link (it opens a tab of its own)
            shown = page.wait_for("Review queue", "signed in as alice@example.com", item["item_id"])
            # every open item is on the page, in the queue's order (not only the first 15)
            open_ids = [i["item_id"] for i in queue(settings, "customer")]
            assert open_ids and all(i in shown for i in open_ids)
            positions = [shown.index(i) for i in open_ids]
            assert positions == sorted(positions)

            click(page, "a", item["item_id"]); clicks["alice"] += 1
            shown = page.wait_for(f"Keep iban {value}", "golden id")
            member = item["members"][0]
            assert member["source_id"] in shown and re.search(r"\.\w+:\d+", shown), shown[:2000]   # file:line
            page.screenshot(tmp_path / "review_item.png")
            assert_screenshot(tmp_path / "review_item.png")
            click(page, "button", f"Keep iban {value}"); clicks["alice"] += 1
            page.wait_for("choose_value recorded by alice@example.com", "(pending)", timeout=150)
            with StateStore.from_settings(settings) as store:
                proposal = store.decisions("customer")[-1]
            assert (proposal["action"], proposal["steward"], proposal["status"]) == ("choose_value", "alice@example.com", "pending")

            # the proposer cannot approve her own change of bank details
            page.call("Page.navigate", url=home)
            page.wait_for(f"decision:{proposal['decision_id']}")
            click(page, "a", f"decision:{proposal['decision_id']}")
            page.wait_for("Approve", value)
            click(page, "button", "Approve")
            page.wait_for("four eyes", timeout=150)

            # a second identity, a local account, approves
            basic = base64.b64encode(b"bob:bob's long password").decode()
            page.call("Network.setExtraHTTPHeaders", headers={"Authorization": f"Basic {basic}"})
            page.call("Page.navigate", url=home)
            page.wait_for("signed in as bob", f"decision:{proposal['decision_id']}")
            click(page, "a", f"decision:{proposal['decision_id']}"); clicks["bob"] += 1
            page.wait_for("Approve")
            click(page, "button", "Approve"); clicks["bob"] += 1
            page.wait_for("approve recorded by bob", timeout=150)
            # the item is decided at once
            page.call("Page.navigate", url=home + "item?entity=customer&id=" + urllib.parse.quote(item["item_id"]))
            page.wait_for(f"{item['item_id']} (decided)", "Decided.")
            page.screenshot(tmp_path / "review_decided.png")
            assert_screenshot(tmp_path / "review_decided.png")
            with StateStore.from_settings(settings) as store:
                approval = store.decisions("customer")[-1]
            applied(ui, approval["run_id"])       # the golden record changes in the background

            # the weekly spot check: the schedule's job draws the sample, a steward judges it
            spot = post_graphql(ui.port, LAUNCH, {"params": {"selector": {**ui.job, "jobName": "steward_spot_checks"}}})
            spot_run = spot["launchRun"]["run"]["runId"]
            assert finished(ui, spot_run, timeout=180) == "SUCCESS", step_failures(ui, spot_run)
            page.call("Page.navigate", url=home + "spot-checks")
            shown = page.wait_for("Weekly spot checks", "these two records are the same company")
            with StateStore.from_settings(settings) as store:
                first_merge = next(r for r in store.spot_checks("customer") if r["kind"] == "merge")
            page.evaluate(f"document.getElementById('check-{first_merge['check_id']}').scrollIntoView()")
            page.evaluate(f"[...document.querySelectorAll('input[name=check_id][value=\"{first_merge['check_id']}\"]')]"
                          ".map(i => i.form).find(f => f.verdict.value === 'wrong').querySelector('button').click()")
            page.wait_for("wrong, by bob", "distinct recorded by bob", timeout=150)
    finally:
        server.shutdown()
    assert clicks == {"alice": 3, "bob": 2}, clicks      # from the Dagster UI 3, from the review page 2

    decisions, audit = stored(settings)
    assert (approval["action"], approval["steward"], approval["approves"]) == ("approve", "bob", proposal["decision_id"])
    how = {e["after"]["steward"]: e["after"]["authenticated_by"] for e in audit if e["kind"] == "decision"}
    assert how["alice@example.com"] == "proxy_header" and how["bob"] == "local_account"
    # the golden record changed without waiting for the nightly sync
    assert serving_golden(settings, gid) == value
    # the wrong verdict is in the state store and the pair is kept apart by bob's decision
    with StateStore.from_settings(settings) as store:
        verdicts = [r for r in store.spot_checks("customer") if r["answers"] == first_merge["check_id"]]
    assert [(v["verdict"], v["steward"]) for v in verdicts] == [("wrong", "bob")]
    kept_apart = decisions[-1]
    assert (kept_apart["action"], kept_apart["steward"], set(kept_apart["target_ids"])) == \
           ("distinct", "bob", set(first_merge["object_id"].split("|")))
    applied(ui, kept_apart["run_id"])
    a, b = first_merge["object_id"].split("|")
    assert xref(settings, a)[0] != xref(settings, b)[0]
    assert [i["status"] for i in queue(settings, "customer", "all") if i["item_id"] == item["item_id"]] == ["decided"]
