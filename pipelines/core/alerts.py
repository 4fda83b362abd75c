"""Alerts: a failed run or a failed blocking gate tells a person, with what to do about it.

Channels (both optional, configured in ``[tool.kontor.alerts]`` of pyproject.toml; secrets only
from the environment):

    [tool.kontor.alerts]
    webhook_env = "KONTOR_ALERT_WEBHOOK"          # env var holding the Slack/Teams webhook URL
    email = ["controlling@example.com"]           # via KONTOR_SMTP_* (as report delivery)
    escalate_after = 3                            # N failures of the same asset in a row ...
    escalation_webhook_env = "KONTOR_ALERT_ESCALATION_WEBHOOK"   # ... go here as well,
    escalation_email = ["it-lead@example.com"]                    # and here, marked ESCALATED

The webhook body is ``{"text": ...}``, which Slack and Microsoft Teams incoming webhooks both
accept. When an asset that failed is built again, the same channels get an all-clear ("recovered").
Consecutive failures per asset are counted in the state store (``pipelines/core/state.py``):
every alert and every recovery is an audit event of kind ``alert`` whose ``entity`` is the asset
key and whose ``after`` holds ``{"status", "consecutive", "escalated"}``; the count of an asset is
that of its latest event. A success of the asset appends a ``resolved`` event (count 0). Events
are keyed by run id, so the run-failure sensor and ``kontor run`` never alert twice for one run.

Sending never raises: an alert that cannot be delivered is returned as a problem, since a broken
webhook must not hide the failure it reports.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from pipelines.core.errors import KontorError
from pipelines.core.services import Services, services_for
from pipelines.core.settings import Settings, tool_table

KIND = "alert"
ACTOR = "kontor"
_KEYS = {"webhook_env", "email", "escalate_after", "escalation_webhook_env", "escalation_email", "timeout_s"}


@dataclass(frozen=True)
class AlertConfig:
    webhook_env: str = "KONTOR_ALERT_WEBHOOK"
    email: tuple[str, ...] = ()
    escalate_after: int = 3
    escalation_webhook_env: str = "KONTOR_ALERT_ESCALATION_WEBHOOK"
    escalation_email: tuple[str, ...] = ()
    timeout_s: float = 10.0


# A check whose failure at severity WARN still alerts (its metadata carries ``ALERT_METADATA: True``):
# the asset was built, but a person should look, e.g. a source whose extract lost many rows to
# quarantine (``assets/sources.py``'s ``quarantine_share``). Other warn rules only annotate.
ALERT_METADATA = "kontor/alert"
QUARANTINE_CHECK = "quarantine_share"


@dataclass(frozen=True)
class Failure:
    """One failed asset of a run: ``gate`` names the failed blocking rule, if that was the cause.
    ``warning``: not a failure but a failed warn check that alerts (the asset was built)."""
    asset: str
    error: str
    gate: str | None = None
    warning: bool = False


@dataclass
class Alert:
    asset: str
    run_id: str
    error: str
    advice: str
    consecutive: int
    escalated: bool
    text: str = ""
    sent: list[str] = field(default_factory=list)       # "webhook KONTOR_ALERT_WEBHOOK", "email a@b"
    problems: list[str] = field(default_factory=list)
    recovered: bool = False     # the all-clear: the asset succeeded after ``consecutive`` failures
    warning: bool = False       # built, but a warn check that alerts failed (``consecutive``: failures before)


def alert_config(settings: Settings) -> AlertConfig:
    raw = tool_table(settings, "alerts")
    where = f"{settings.relative(settings.project_dir / 'pyproject.toml')} [tool.kontor.alerts]"
    unknown = set(raw) - _KEYS
    if unknown:
        raise KontorError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; fix: use {', '.join(sorted(_KEYS))}")
    for key in ("webhook_env", "escalation_webhook_env"):
        if "://" in str(raw.get(key, "")):
            raise KontorError(f"{where}: {key} must name an environment variable, not hold the URL (it carries "
                              f"a token); fix: {key} = \"KONTOR_ALERT_WEBHOOK\" and export the URL there")
    try:
        return AlertConfig(**{k: tuple(v) if k.endswith("email") else v for k, v in raw.items()})
    except TypeError as exc:
        raise KontorError(f"{where}: {exc}") from None


def step_failure_reason(event) -> str:
    """One line on why a Dagster step failed (a ``STEP_FAILURE`` event): the user's description,
    else the first line of the innermost error."""
    data = event.step_failure_data
    if data.user_failure_data and data.user_failure_data.description:
        return data.user_failure_data.description
    error = data.error
    while error is not None and error.cause is not None and error.cls_name == "DagsterExecutionStepExecutionError":
        error = error.cause
    # the first line names the error ("BinderException: Binder Error: Referenced column ..."); the
    # lines after it are context such as DuckDB's "LINE 27: ..." and a caret line
    return (error.message.strip().splitlines() or ["unknown error"])[0] if error else "unknown error"


FAILED_ASSETS = "kontor/failed_assets"   # a step of several assets (the model layer): asset -> why it failed


def failed_assets(event) -> dict[str, str]:
    """The assets a failed step of several assets names in its failure's metadata (``FAILED_ASSETS``),
    each with a one-line reason; empty for any other step."""
    data = event.step_failure_data
    user = data.user_failure_data if data else None
    value = (user.metadata or {}).get(FAILED_ASSETS) if user else None
    found = getattr(value, "value", None)
    return {str(a): (str(r).strip().splitlines() or ["failed"])[0] for a, r in found.items()} if isinstance(found, dict) else {}


WAREHOUSE = "kontor/warehouse"   # a run that could not open (or lock) the warehouse fails under this name


def init_failure_reason(event) -> str:
    """One line on why a run's resources could not start (a ``RESOURCE_INIT_FAILURE`` event): the
    innermost error's first line, without its class's module path."""
    data = event.event_specific_data
    error = getattr(data, "error", None)
    while error is not None and error.cause is not None:
        error = error.cause
    if error is None:
        return "the run's resources could not be set up"
    line = (error.message.strip().splitlines() or [error.cls_name])[0]
    return re.sub(rf"^[\w.]*\b{re.escape(error.cls_name)}: ", "", line)


def advice(asset: str, gate: str | None) -> str:
    """What the person who runs Kontor should do about a failed asset."""
    if gate == QUARANTINE_CHECK:
        source = asset.removeprefix("raw/").replace("__", ".", 1)
        return (f"Rows of the extract were quarantined, not loaded: see file, line and reason with "
                f"kontor query \"select file, line, column_name, reason from kontor.quarantine where source = '{source}'\"; "
                f"have the extract corrected at its source (or fix the column's type or format in models/sources.yml) "
                f"and deliver it again.")
    if gate:
        return (f"Quality gate {gate!r} blocked {asset}: look at the failing rows in kontor.gate_quarantine "
                f"(kontor query \"select * from kontor.gate_quarantine where asset = '{asset}'\") and the Data Docs "
                f"page under target/data_docs/; fix the data at its source (or the rule in expectations/), then "
                f"kontor run --select 'key:{asset}+'.")
    if asset == WAREHOUSE:
        return ("Nothing was built: the warehouse could not be opened for writing (the reason names the process "
                "holding it, or what the system said). Fix that, then run again (kontor run).")
    if asset.startswith("raw/"):
        return (f"Source {asset} could not be loaded: check the file or server named in the error, "
                f"kontor.load_ledger and kontor.quarantine; fix the extract (or its entry in models/sources.yml), "
                f"then kontor run --select 'key:{asset}+'.")
    return (f"Open the run in the Dagster UI (kontor dev) for the full error; fix the model or its input, "
            f"then kontor run --select 'key:{asset}+'.")


def _text(alert: Alert, project: str) -> str:
    if alert.recovered:
        return (f"Kontor: {alert.asset} recovered ({project})\n"
                f"Asset: {alert.asset}\nRun: {alert.run_id}\n"
                f"It was built again after {alert.consecutive} failed run(s) in a row; no action needed.")
    if alert.warning:
        again = f"\nIt was built again after {alert.consecutive} failed run(s) in a row." if alert.consecutive else ""
        return (f"Kontor warning: {alert.asset} built, but {alert.error} ({project})\n"
                f"Asset: {alert.asset}\nWarning: {alert.error}\nRun: {alert.run_id}{again}\nWhat to do: {alert.advice}")
    head = (f"ESCALATED: {alert.asset} failed {alert.consecutive} times in a row" if alert.escalated
            else f"Kontor alert: {alert.asset} failed")
    return (f"{head} ({project})\n"
            f"Asset: {alert.asset}\nError: {alert.error}\nRun: {alert.run_id}\n"
            f"Failures in a row: {alert.consecutive}\nWhat to do: {alert.advice}")


def _post(url: str, text: str, timeout: float) -> None:
    import urllib.request   # here, not at import: `kontor check` reads the alert settings only (http, ssl)

    request = urllib.request.Request(url, data=json.dumps({"text": text}).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()


def _mail(services: Services, to: Sequence[str], subject: str, text: str, timeout: float) -> None:
    config = services.smtp
    if config is None:
        raise KontorError("KONTOR_SMTP_HOST is not set")
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = config.sender, ", ".join(to), subject
    message["Date"], message["Message-ID"] = formatdate(localtime=True), make_msgid(domain="kontor")
    message.set_content(text)
    from pipelines.reports.delivery import send   # smtplib, only when a mail goes out

    send(config, message, timeout)


def _deliver(services: Services, config: AlertConfig, alert: Alert) -> None:
    targets: list[tuple[str, str | Sequence[str]]] = [("webhook", config.webhook_env), ("email", config.email)]
    if alert.escalated:
        targets += [("webhook", config.escalation_webhook_env), ("email", config.escalation_email)]
    subject = alert.text.splitlines()[0]
    for channel, target in targets:
        try:
            if channel == "webhook":
                url = services.webhooks.get(target)
                if not url:
                    continue
                _post(url, alert.text, config.timeout_s)
                alert.sent.append(f"webhook {target}")
            elif target:
                _mail(services, target, subject, alert.text, config.timeout_s)
                alert.sent.append(f"email {', '.join(target)}")
        except Exception as exc:  # any transport error: reported, never raised (the URL is never shown)
            where = f"webhook from {target}" if channel == "webhook" else f"e-mail to {', '.join(target)}"
            reason = f"HTTP {exc.code}" if hasattr(exc, "code") and isinstance(exc.code, int) else type(exc).__name__
            alert.problems.append(f"alert for {alert.asset} not delivered by {where}: {reason}")


def configured(services: Services, config: AlertConfig) -> bool:
    return bool(services.webhooks.get(config.webhook_env) or config.email)


def _latest(store, assets: Iterable[str]) -> dict[str, dict]:
    """The latest alert event per asset, for the given assets."""
    latest = {}
    for asset in set(assets):
        events = store.audit(entity=asset, kind=KIND, limit=1)
        if events:
            latest[asset] = events[-1]
    return latest


def report_run(settings: Settings, run_id: str, failures: Sequence[Failure], succeeded: Sequence[str] = (),
               store=None, services: Services | None = None) -> list[Alert]:
    """Alert for each failed asset of run ``run_id`` and reset the count of assets that succeeded.
    Returns the alerts (with what was sent and what could not be). No channel configured: nothing
    is sent and nothing is counted. ``services``: the webhooks, the mailer and the state store
    (none given: ``services_for(settings)``)."""
    config = alert_config(settings)
    services = services or services_for(settings)
    if not configured(services, config):
        return []
    from pipelines.core.state import StateStore

    own = store is None
    store = store or StateStore.at(settings, services.state)
    try:
        by_asset: dict[str, Failure] = {}             # one alert per asset and run; a failure wins over a warning
        for failure in failures:
            if failure.asset not in by_asset or by_asset[failure.asset].warning:
                by_asset[failure.asset] = failure
        latest = _latest(store, [*by_asset, *succeeded])
        alerts, events = [], []
        for asset, failure in by_asset.items():
            before = latest.get(asset)
            if before and before["run_id"] == run_id:
                continue                              # already alerted for this run
            failed_before = (before["after"] or {}).get("consecutive", 0) if before else 0
            if failure.warning:
                # the asset was built: its failure count ends, the warning goes to the usual channels
                alert = Alert(asset, run_id, failure.error, advice(asset, failure.gate), failed_before, False,
                              warning=True)
                alert.text = _text(alert, settings.name)
                _deliver(services, config, alert)
                alerts.append(alert)
                events.append({"run_id": run_id, "actor": ACTOR, "kind": KIND, "entity": asset,
                               "after": {"status": "warned", "consecutive": 0, "escalated": False, "sent": alert.sent},
                               "detail": failure.error[:500]})
                continue
            count = failed_before + 1
            escalated = config.escalate_after > 0 and count >= config.escalate_after
            alert = Alert(asset, run_id, failure.error, advice(asset, failure.gate), count, escalated)
            alert.text = _text(alert, settings.name)
            _deliver(services, config, alert)
            alerts.append(alert)
            events.append({"run_id": run_id, "actor": ACTOR, "kind": KIND, "entity": asset,
                           "after": {"status": "failed", "consecutive": count, "escalated": escalated,
                                     "sent": alert.sent},
                           "detail": failure.error[:500]})
        for asset in dict.fromkeys(succeeded):
            before = latest.get(asset)
            failed_before = (before["after"] or {}).get("consecutive", 0) if before else 0
            if asset not in by_asset and failed_before > 0:
                # the all-clear goes where the alerts went, the escalation channels included
                alert = Alert(asset, run_id, "", "", failed_before, bool((before["after"] or {}).get("escalated")),
                              recovered=True)
                alert.text = _text(alert, settings.name)
                _deliver(services, config, alert)
                alerts.append(alert)
                events.append({"run_id": run_id, "actor": ACTOR, "kind": KIND, "entity": asset,
                               "after": {"status": "resolved", "consecutive": 0, "escalated": False,
                                         "sent": alert.sent},
                               "detail": f"succeeded again after {failed_before} failure(s)"})
        if events:
            store.append_audit(events)
        return alerts
    finally:
        if own:
            store.close()


def split_line(line: str) -> tuple[str, str]:
    """``"asset: reason"`` (as in ``RunOutcome``) → (asset, reason)."""
    asset, _, reason = line.partition(": ")
    return asset, reason or line


def report_outcome(settings: Settings, run_id: str, failure_lines: Sequence[str], gate_lines: Sequence[str],
                   materialized: Sequence[str], warning_lines: Sequence[str] = (),
                   services: Services | None = None) -> tuple[list[Alert], list[str]]:
    """``report_run`` for the lines of a ``RunOutcome`` (``kontor run``); never raises: returns
    the alerts and the problems (bad configuration, unreachable state store, undelivered alerts).
    ``warning_lines``: the failed warn checks that alert (``ALERT_METADATA``)."""
    failures = [Failure(*split_line(line)) for line in failure_lines]
    for lines, warning in ((gate_lines, False), (warning_lines, True)):
        for line in lines:
            asset, reason = split_line(line)
            gate = re.match(r"check '([^']+)'", reason)
            failures.append(Failure(asset, reason, gate.group(1) if gate else "quality gate", warning=warning))
    try:
        alerts = report_run(settings, run_id, failures, materialized, services=services)
    except KontorError as exc:
        return [], [f"alerts: {exc}"]
    return alerts, [p for a in alerts for p in a.problems]
