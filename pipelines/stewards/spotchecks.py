"""Weekly spot checks: how often are the automatic decisions wrong on this company's data?

Each week a sample of automatic decisions goes in front of a steward with the original records:
merges the model made (stratified by match probability: equal numbers from the lower, middle and
upper third of the merged pairs, each weighted by its stratum's size), golden values survivorship
took by rule, and sync proposals. Verdicts (correct / wrong / unsure) are appended to the state
store; a wrong merge becomes a ``distinct`` decision (the pair kept apart). The precision of the
automatic merges is estimated per week and over the last weeks, with a 95 % Wilson interval on the
stratum-weighted proportion (Kish's effective sample size), so a steward's ten minutes a week say
how far the merges can be trusted.

    [tool.kontor.stewards]
    spot_check_size = 15          # items per entity and week (merges 60 %, golden values and sync proposals 20 % each)
    spot_check_threshold = 0.95   # the precision below which the spot-check gate fails (and alerts)
    spot_check_weeks = 8          # how many recent weeks the pooled estimate covers
"""
from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from markupsafe import escape

from pipelines.engines.connection import CatalogError, Connection
from pipelines.entities.spec import EntitySpec
from pipelines.core.errors import KontorError
from pipelines.stewards.identity import Identity
from pipelines.core.settings import Settings, tool_table

if TYPE_CHECKING:   # imported where a store is opened: `kontor check` reads the settings only (pyarrow: 0.2 s)
    from pipelines.core.state import StateStore

VERDICTS = ("correct", "wrong", "unsure")
STRATA = 3
Z95 = 1.959963984540054


@dataclass(frozen=True)
class SpotCheckSettings:
    size: int = 15
    threshold: float = 0.95
    weeks: int = 8


def spot_check_settings(settings: Settings) -> SpotCheckSettings:
    raw = tool_table(settings, "stewards")
    size, threshold, weeks = (raw.get("spot_check_size", 15), raw.get("spot_check_threshold", 0.95),
                              raw.get("spot_check_weeks", 8))
    if not isinstance(size, int) or size < 3 or not isinstance(weeks, int) or weeks < 1 \
            or not isinstance(threshold, (int, float)) or not 0 < threshold < 1:
        raise KontorError("pyproject.toml [tool.kontor.stewards]: spot_check_size is an integer >= 3, "
                          "spot_check_weeks >= 1, spot_check_threshold between 0 and 1 (e.g. 0.95)")
    return SpotCheckSettings(size, float(threshold), weeks)


def week_of(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def wilson(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion; (0, 1) without data.

    >>> tuple(round(x, 4) for x in wilson(9, 10))
    (0.5958, 0.9821)
    """
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # rounding must not put the estimate itself outside its interval (p = 1 gives high = 0.99999...)
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


def _rank(seed: str, key: str) -> str:
    return hashlib.sha256(f"{seed}|{key}".encode()).hexdigest()


def candidates(con: Connection, spec: EntitySpec) -> dict[str, list[tuple]]:
    """Automatic decisions of the last run: merged pairs (rule, not steward), rule-chosen golden values, sync proposals."""
    from pipelines.stewards.stewardship import entity_sql

    t = spec.table
    merges = con.execute(entity_sql("spot_merges", pairs=t("pairs"), xref=t("xref")),
                         [spec.thresholds["match_probability"]]).fetchall()
    values = con.execute(entity_sql("spot_golden_values", conflicts=t("conflicts"))).fetchall()
    try:
        proposals = con.execute(entity_sql("spot_sync_proposals", sync_proposals=t("sync_proposals"))).fetchall()
    except CatalogError:
        proposals = []
    return {"merge": merges, "golden_value": values, "sync_proposal": proposals}


def draw(found: dict[str, list[tuple]], size: int, seed: str) -> list[dict[str, Any]]:
    """The week's sample: 60 % merges in equal parts from each probability third, 20 % each of the
    others (what a kind lacks goes to the merges); every item with the weight of its stratum."""
    quota = {"golden_value": round(size * 0.2), "sync_proposal": round(size * 0.2)}
    quota = {k: min(v, len(found[k])) for k, v in quota.items()}
    quota["merge"] = size - sum(quota.values())
    picked = []
    merges = found["merge"]       # ordered by probability: thirds are strata
    strata = [merges[i * len(merges) // STRATA:(i + 1) * len(merges) // STRATA] for i in range(STRATA)]
    strata = [s for s in strata if s]
    for i, stratum in enumerate(strata):
        k = min(len(stratum), quota["merge"] // len(strata) + (1 if i < quota["merge"] % len(strata) else 0))
        for object_id, p in sorted(stratum, key=lambda r: _rank(seed, r[0]))[:k]:
            picked.append({"kind": "merge", "object_id": object_id, "match_probability": p,
                           "weight": len(stratum) / k, "stratum": i + 1})
    for kind in ("golden_value", "sync_proposal"):
        for object_id, _ in sorted(found[kind], key=lambda r: _rank(seed, r[0]))[:quota[kind]]:
            picked.append({"kind": kind, "object_id": object_id, "match_probability": None,
                           "weight": len(found[kind]) / quota[kind], "stratum": None})
    return picked


def take_sample(settings: Settings, con: Connection, spec: EntitySpec, store: StateStore,
                day: dt.date, size: int) -> list[dict]:
    """This week's sample of ``spec`` (drawn once; a second call the same week returns the first)."""
    from pipelines.stewards.stewardship import _origin, raw_ids

    week = week_of(day)
    existing = [r for r in store.spot_checks(spec.name) if r["sample"] == week and r["verdict"] is None]
    if existing:
        return existing
    rows, ids = [], raw_ids(settings, spec)
    for item in draw(candidates(con, spec), size, f"{spec.name}:{week}"):
        uids = _uids(con, spec, item["kind"], item["object_id"])
        records = [_origin(con, spec, uid, None, ids) for uid in uids]
        rows.append({"entity": spec.name, "sample": week, "kind": item["kind"], "object_id": item["object_id"],
                     "match_probability": item["match_probability"],
                     "detail": {"weight": item["weight"], "stratum": item["stratum"], "records": records,
                                "claim": _claim(con, spec, item["kind"], item["object_id"])}})
    store.append_spot_checks(rows)
    return [r for r in store.spot_checks(spec.name) if r["sample"] == week and r["verdict"] is None]


def _uids(con, spec: EntitySpec, kind: str, object_id: str) -> list[str]:
    if kind == "merge":
        return object_id.split("|")
    if kind == "golden_value":
        golden = object_id.rsplit(":", 1)[0]
        from pipelines.stewards.stewardship import entity_sql

        return [r[0] for r in con.execute(entity_sql("cluster_members", clusters=spec.table("clusters")),
                                          [golden]).fetchall()]
    return [object_id.rsplit(":", 1)[0]]


def _claim(con, spec: EntitySpec, kind: str, object_id: str) -> str:
    """What the automatic decision says, in words a steward checks against the records."""
    from pipelines.stewards.stewardship import entity_sql

    if kind == "merge":
        return "these two records are the same company"
    if kind == "golden_value":
        golden, attribute = object_id.rsplit(":", 1)
        row = con.execute(entity_sql("golden_value_claim", conflicts=spec.table("conflicts")),
                          [golden, attribute]).fetchone()
        return f"the golden {attribute} of {golden} is {row[0]!r} ({row[1]})" if row else f"golden {attribute} of {golden}"
    system, source_id, attribute = object_id.split(":", 2) if object_id.count(":") >= 2 else (object_id, "", "")
    row = con.execute(entity_sql("sync_proposal_claim", sync_proposals=spec.table("sync_proposals")),
                      [system, source_id, attribute]).fetchone()
    return f"{system} should change {attribute} of {source_id} from {row[0]!r} to {row[1]!r}" if row else object_id


def precision(store: StateStore, entity: str, weeks: int, today: dt.date) -> dict[str, Any]:
    """Precision of the automatic merges per week and pooled over the last ``weeks`` weeks."""
    rows = store.spot_checks(entity)
    samples = {r["check_id"]: r for r in rows if r["verdict"] is None and r["kind"] == "merge"}
    verdicts: dict[int, str] = {}
    for r in rows:
        if r["verdict"] is not None and r["answers"] in samples:
            verdicts[r["answers"]] = r["verdict"]        # the latest verdict on a sample counts
    recent = {week_of(today - dt.timedelta(weeks=w)) for w in range(weeks)}
    per_week: dict[str, list] = {}
    for check_id, verdict in verdicts.items():
        s = samples[check_id]
        per_week.setdefault(s["sample"], []).append((verdict, float((s["detail"] or {}).get("weight") or 1.0)))

    def estimate(judged: list) -> dict[str, Any]:
        scored = [(v, w) for v, w in judged if v != "unsure"]
        total = math.fsum(w for _, w in scored)
        wrong = math.fsum(w for v, w in scored if v == "wrong")
        n_eff = total * total / math.fsum(w * w for _, w in scored) if scored else 0.0
        p = 1.0 - wrong / total if total else None
        low, high = wilson(p * n_eff, n_eff) if p is not None else (None, None)
        return {"judged": len(judged), "correct": sum(v == "correct" for v, _ in judged),
                "wrong": sum(v == "wrong" for v, _ in judged), "unsure": sum(v == "unsure" for v, _ in judged),
                "precision": p, "low": low, "high": high}

    table = [{"week": week, **estimate(judged)} for week, judged in sorted(per_week.items())]
    pooled = estimate([j for week, judged in per_week.items() if week in recent for j in judged])
    return {"weeks": table, "pooled": pooled, "window_weeks": weeks}


PRECISION_COLUMNS = ("week", "weeks", "judged", "correct", "wrong", "unsure", "precision", "low", "high")


def write_precision_table(con: Connection, entity: str, found: dict[str, Any]) -> str:
    """``entities.<entity>_spot_check_precision``: one row per judged week (``weeks`` = 1) and always
    one pooled row (``week`` null, ``weeks`` = the window) that the master-data report reads, with
    ``judged`` 0 and a null precision while no verdict exists (never a made-up 0 % or 100 %)."""
    from pipelines.core.warehouse import insert_rows
    from pipelines.stewards.stewardship import entity_sql

    table = f"entities.{entity}_spot_check_precision"
    con.execute(entity_sql("precision_schema"))
    con.execute(entity_sql("precision_table", precision=table))
    rows = [(w["week"], 1, *(w[c] for c in PRECISION_COLUMNS[2:])) for w in found["weeks"]]
    rows.append((None, found["window_weeks"], *(found["pooled"][c] for c in PRECISION_COLUMNS[2:])))
    insert_rows(con, table, rows)
    return table


def record_verdict(settings: Settings, identity: Identity, form: dict[str, str]) -> tuple[bool, str, dict | None]:
    """Append a verdict; returns (ok, message, the sampled row when the verdict is ``wrong`` on a merge)."""
    verdict = form.get("verdict", "")
    if verdict not in VERDICTS:
        return False, f"verdict {verdict!r}: one of {', '.join(VERDICTS)}", None
    try:
        check_id = int(form.get("check_id", ""))
    except ValueError:
        return False, "no sampled item named", None
    from pipelines.core.state import StateStore

    with StateStore.from_settings(settings) as store:
        rows = store.spot_checks()
        sample = next((r for r in rows if r["check_id"] == check_id and r["verdict"] is None), None)
        if sample is None:
            return False, f"there is no sampled item {check_id}", None
        prior = [r for r in rows if r["answers"] == check_id]
        if prior and prior[-1]["verdict"] == verdict:
            return True, f"already judged {verdict} by {prior[-1]['steward']}; nothing stored", None
        store.append_spot_checks([{"entity": sample["entity"], "sample": sample["sample"], "kind": sample["kind"],
                                   "object_id": sample["object_id"], "match_probability": sample["match_probability"],
                                   "verdict": verdict, "answers": check_id, "steward": identity.name}])
    wrong_merge = sample if verdict == "wrong" and sample["kind"] == "merge" else None
    return True, f"{sample['kind']} {sample['object_id']}: {verdict}, by {identity.name}", wrong_merge


def spot_check_page(settings: Settings) -> str:
    """This week's unanswered samples, records side by side, one click per verdict."""
    from pipelines.core.state import StateStore

    with StateStore.from_settings(settings) as store:
        rows = store.spot_checks()
    answered = {r["answers"]: r for r in rows if r["verdict"] is not None}
    samples = [r for r in rows if r["verdict"] is None]
    if not samples:
        return "<h1>Weekly spot checks</h1><p>No sample yet: the schedule steward_spot_checks draws one each Monday.</p>"
    latest = max(r["sample"] for r in samples)
    out = [f"<h1>Weekly spot checks {escape(latest)}</h1>",
           "<p>Is the automatic decision right? Compare it with the original records.</p>"]
    for r in (r for r in samples if r["sample"] == latest):
        done = answered.get(r["check_id"])
        detail = r["detail"] or {}
        p = f" — match probability {r['match_probability']:.3f}" if r["match_probability"] is not None else ""
        out.append(f"<h3 id='check-{r['check_id']}'>{escape(r['entity'])} {escape(r['kind'])}: "
                   f"{escape(detail.get('claim') or r['object_id'])}{escape(p)}</h3>")
        records = detail.get("records") or []
        if records:
            out.append("<table><tr><th></th>" + "".join(f"<th>{escape(m['system'])} {escape(m['source_id'])}</th>" for m in records) + "</tr>")
            for a in ("origin", "name", "street", "postcode", "city", "vat_id", "iban", "email", "phone"):
                out.append(f"<tr><th>{a}</th>" + "".join(f"<td>{escape(m.get(a) or '')}</td>" for m in records) + "</tr>")
            out.append("</table>")
        if done:
            out.append(f"<p class='decided'>judged {escape(done['verdict'])} by {escape(done['steward'])}</p>")
            continue
        for verdict in VERDICTS:
            out.append(f"<form method='post' action='/verdict' style='display:inline'><input type='hidden' name='check_id' "
                       f"value='{r['check_id']}'><input type='hidden' name='verdict' value='{verdict}'>"
                       f"<button type='submit'>{verdict.capitalize()}</button></form>")
    return "\n".join(out)
