"""The immutable report archive: ``target/reports/<name>/<name>_<period>_v<N>.pdf`` + manifest.

Every issue gets the next version for its period; files are created exclusively (never
overwritten) and made read-only; ``manifest.json`` lists each issue with the sha256 of its PDF
and facts, and is replaced atomically under a lock, so two processes issuing at once get
different versions.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipelines.core.errors import KontorError


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Archive:
    def __init__(self, root: Path, report: str):
        self.dir = root / report
        self.report = report
        self.manifest_path = self.dir / "manifest.json"

    def manifest(self) -> dict:
        if not self.manifest_path.is_file():
            return {"report": self.report, "issues": []}
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))

    def issues(self, period: str | None = None) -> list[dict]:
        return [i for i in self.manifest()["issues"] if period is None or i["period"] == period]

    def latest(self, period: str) -> dict | None:
        issues = self.issues(period)
        return max(issues, key=lambda i: i["version"]) if issues else None

    def find(self, period: str, version: int | None = None) -> dict:
        issue = self.latest(period) if version is None else next(
            (i for i in self.issues(period) if i["version"] == version), None)
        if issue is None:
            raise KontorError(f"{self.report}: no issued version {version or ''} for period {period}; "
                              f"fix: issue it with `kontor report {self.report} --period {period}`")
        return issue

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            # Under the lock no other writer is busy: a temp file here is left by a killed process.
            for stale in [*self.dir.glob(".*.part"), *self.dir.glob(".manifest.*.tmp")]:
                stale.unlink(missing_ok=True)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def next_version(self, period: str) -> int:
        """Call under ``locked()``: one more than any version of ``period`` on disk or in the manifest."""
        pattern = re.compile(rf"^{re.escape(self.report)}_{re.escape(period)}_v(\d+)\.pdf$")
        on_disk = [int(m.group(1)) for p in self.dir.glob("*.pdf") if (m := pattern.match(p.name))]
        listed = [i["version"] for i in self.issues(period)]
        return max(on_disk + listed + [0]) + 1

    def stem(self, period: str, version: int) -> str:
        return f"{self.report}_{period}_v{version}"

    def _write_once(self, path: Path, data: bytes) -> None:
        """Write beside, fsync, then link into place: a killed process leaves a whole file or none
        (only a hidden temp file, removed by the next ``locked()``). ``link`` fails rather than
        overwrite an issued file."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.chmod(0o444)
        try:
            os.link(tmp, path)
        finally:
            tmp.unlink()

    def add(self, period: str, version: int, pdf: bytes, facts_json: bytes, entry: dict,
            html: bytes | None = None) -> dict:
        """Call under ``locked()``: store the files and append the issue to the manifest."""
        stem = self.stem(period, version)
        self._write_once(self.dir / f"{stem}.pdf", pdf)
        self._write_once(self.dir / f"{stem}.json", facts_json)
        offline = {}
        if html is not None:            # the same report as one self-contained HTML file
            self._write_once(self.dir / f"{stem}.html", html)
            offline = {"html": f"{stem}.html", "html_sha256": sha256(html)}
        record = {"period": period, "version": version, "pdf": f"{stem}.pdf", "sha256": sha256(pdf),
                  "facts": f"{stem}.json", "facts_sha256": sha256(facts_json), **offline, **entry}
        manifest = self.manifest()
        manifest["issues"].append(record)
        self._save(manifest)
        return record

    def update(self, period: str, version: int, **changes) -> dict:
        """Call under ``locked()``: record approval or delivery; the files themselves never change."""
        manifest = self.manifest()
        for issue in manifest["issues"]:
            if issue["period"] == period and issue["version"] == version:
                issue.update(changes)
                self._save(manifest)
                return issue
        raise KontorError(f"{self.report}: no version {version} for period {period} in {self.manifest_path}")

    def _save(self, manifest: dict) -> None:
        tmp = self.manifest_path.with_name(f".manifest.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.manifest_path)
