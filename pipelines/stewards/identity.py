"""Who decides: an authenticated identity, never a typed name (four eyes means two people).

Three ways a steward is known, each recorded in the audit trail with the decision:

- ``os_user``: on the command line, the operating-system user running ``kontor`` (the login
  already authenticated them);
- ``proxy_header``: behind a reverse proxy that authenticates (oauth2-proxy), the header it sets
  (``X-Forwarded-Email`` or ``X-Forwarded-User``), trusted only when ``[tool.kontor.stewards]``
  names it in ``trusted_header`` and only from the addresses in ``trusted_proxies``;
- ``local_account``: for small sites, steward accounts in the state store
  (``kontor steward add-user NAME``): scrypt hashes (``hashlib.scrypt``, a random salt per
  password), appended, never updated; HTTP Basic on the review page.

A decision launched as a Dagster run carries the identity the review page established in a token
signed with the project's steward key (``KONTOR_STEWARD_KEY``, else ``state/steward.key``, created
once, mode 0600); the run refuses a typed name or a token that does not verify.
"""
from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from pipelines.core.errors import KontorError
from pipelines.core.settings import Settings, tool_table

SCRYPT = {"n": 2 ** 14, "r": 8, "p": 1, "dklen": 32}     # hashlib's scrypt; about 50 ms and 16 MB per check
MIN_PASSWORD = 10
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")
KEY_ENV, KEY_FILE = "KONTOR_STEWARD_KEY", "steward.key"
TOKEN_SECONDS = 15 * 60
METHODS = ("os_user", "proxy_header", "local_account")
# [tool.kontor.stewards]; the spot_check_* keys are read by pipelines.stewards.spotchecks
KEYS = ("trusted_header", "trusted_proxies", "review_url", "spot_check_size", "spot_check_threshold", "spot_check_weeks")


@dataclass(frozen=True)
class Identity:
    name: str
    method: str          # one of METHODS: how the identity was established

    def audit(self) -> dict[str, str]:
        return {"steward": self.name, "authenticated_by": self.method}


@dataclass(frozen=True)
class StewardSettings:
    """``[tool.kontor.stewards]``: which proxy header to trust, and from where."""
    trusted_header: str | None = None
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    review_url: str = "http://127.0.0.1:3001/"     # where stewards reach the review page (the asset links it)


def steward_settings(settings: Settings) -> StewardSettings:
    raw = tool_table(settings, "stewards")
    where = "pyproject.toml [tool.kontor.stewards]"
    unknown = set(raw) - set(KEYS)
    if unknown:
        raise KontorError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(KEYS)}")
    header = raw.get("trusted_header")
    if header is not None and (not isinstance(header, str) or not re.fullmatch(r"[A-Za-z0-9-]+", header)):
        raise KontorError(f"{where}: trusted_header must be a header name such as \"X-Forwarded-Email\"")
    proxies = raw.get("trusted_proxies", list(StewardSettings.trusted_proxies))
    if not isinstance(proxies, list) or not all(isinstance(p, str) for p in proxies):
        raise KontorError(f"{where}: trusted_proxies must be a list of addresses, e.g. [\"127.0.0.1\"]")
    url = raw.get("review_url", StewardSettings.review_url)
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise KontorError(f"{where}: review_url must be an http(s) URL, e.g. \"https://stewards.example.com/\"")
    return StewardSettings(header, tuple(proxies), url)


def os_user() -> Identity:
    return Identity(getpass.getuser(), "os_user")


def _check_name(name: str) -> str:
    if not NAME.match(name or ""):
        raise KontorError(f"steward name {name!r}: use letters, digits and . _ @ + - (e.g. anna.schmidt)")
    return name


def hash_password(password: str, salt: bytes | None = None) -> tuple[str, str, str]:
    """(salt hex, hash hex, parameters) of ``password`` with scrypt."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **SCRYPT)
    return salt.hex(), digest.hex(), json.dumps(SCRYPT, sort_keys=True)


def add_account(store, name: str, password: str, created_by: Identity) -> int:
    """Create a steward account or set a new password (a new row; the latest counts)."""
    _check_name(name)
    if len(password) < MIN_PASSWORD:
        raise KontorError(f"the password needs at least {MIN_PASSWORD} characters")
    salt, digest, params = hash_password(password)
    return store.append_account(name, salt, digest, params, f"{created_by.method}:{created_by.name}")


def check_password(store, name: str, password: str) -> Identity | None:
    """The account's identity when the password matches its latest hash, else None."""
    if not NAME.match(name or ""):
        return None
    row = store.account(name)
    if row is None or not row["hash"]:
        hashlib.scrypt(password.encode(), salt=b"0" * 16, **SCRYPT)   # same time for unknown names
        return None
    params = json.loads(row["params"])
    digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(row["salt"]), **params)
    return Identity(name, "local_account") if hmac.compare_digest(digest.hex(), row["hash"]) else None


def from_request(headers: Mapping[str, str], peer: str, config: StewardSettings, store) -> Identity | None:
    """The identity of a web request: the trusted proxy's header (only when configured and only
    from a trusted proxy address), else HTTP Basic against the local accounts; None if neither."""
    if config.trusted_header and peer in config.trusted_proxies:
        value = (headers.get(config.trusted_header) or "").strip()
        if value:
            return Identity(value, "proxy_header") if NAME.match(value) else None
    auth = headers.get("Authorization") or ""
    if auth.startswith("Basic "):
        try:
            name, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return check_password(store, name, password)
    return None


def signing_key(settings: Settings) -> bytes:
    """The key that signs identities for steward runs: ``KONTOR_STEWARD_KEY`` or a file in the state directory."""
    from pipelines.core.state import state_dir

    if settings.env.get(KEY_ENV):
        return settings.env[KEY_ENV].encode()
    path: Path = state_dir(settings) / KEY_FILE
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def _digest(request: Mapping[str, Any]) -> str:
    fields = {k: request.get(k) for k in ("entity", "action", "target_ids", "attribute", "value", "comment")}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def sign(settings: Settings, identity: Identity, request: Mapping[str, Any], now: float | None = None) -> str:
    """A token binding ``identity`` to exactly this decision, valid for 15 minutes."""
    body = base64.urlsafe_b64encode(json.dumps({"name": identity.name, "method": identity.method,
                                                "request": _digest(request), "issued": int(now or time.time())}).encode())
    mac = hmac.new(signing_key(settings), body, hashlib.sha256).hexdigest()
    return f"{body.decode()}.{mac}"


def verify(settings: Settings, token: str | None, request: Mapping[str, Any], now: float | None = None) -> Identity:
    """The identity a token carries for this decision; raises ``KontorError`` when it does not verify."""
    fix = "decide on the review page (kontor steward review) or with kontor steward decide; a typed name is not accepted"
    body, _, mac = (token or "").partition(".")
    if not body or not hmac.compare_digest(hmac.new(signing_key(settings), body.encode(), hashlib.sha256).hexdigest(), mac):
        raise KontorError(f"no authenticated steward identity; {fix}")
    claims = json.loads(base64.urlsafe_b64decode(body))
    if claims["request"] != _digest(request):
        raise KontorError(f"the identity token was issued for another decision; {fix}")
    if (now or time.time()) - claims["issued"] > TOKEN_SECONDS:
        raise KontorError(f"the identity token has expired; {fix}")
    return Identity(claims["name"], claims["method"])
