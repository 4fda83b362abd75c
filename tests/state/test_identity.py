"""Steward identities: local accounts (scrypt, append-only), the trusted proxy header, and the
signed identity a steward run verifies; on SQLite and PostgreSQL."""
from __future__ import annotations

import base64
import os
import subprocess
import sys

import pytest

from conftest import make_project
from pipelines.core.errors import KontorError
from pipelines.stewards.identity import (Identity, StewardSettings, add_account, check_password, from_request, sign,
                                steward_settings, verify)
from pipelines.core.state import StateStore


@pytest.fixture(params=["sqlite", "postgres"])
def store_settings(request, tmp_path):
    env = {}
    if request.param == "postgres":
        env["KONTOR_STATE_URL"] = request.getfixturevalue("pg_database")
    settings = make_project(tmp_path / "p", env=env)
    with StateStore.from_settings(settings) as store:
        yield settings, store


def _basic(name: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


def test_local_accounts_are_scrypt_hashed_salted_and_append_only(store_settings):
    settings, store = store_settings
    admin = Identity("root", "os_user")
    add_account(store, "anna", "correct horse battery", admin)
    add_account(store, "bernd", "correct horse battery", admin)
    assert check_password(store, "anna", "correct horse battery") == Identity("anna", "local_account")
    assert check_password(store, "anna", "correct horse batterY") is None
    assert check_password(store, "nobody", "correct horse battery") is None
    anna, bernd = store.account("anna"), store.account("bernd")
    assert anna["salt"] != bernd["salt"] and anna["hash"] != bernd["hash"]      # same password, other salt
    assert "correct horse" not in repr(anna) and anna["created_by"] == "os_user:root"
    with pytest.raises(KontorError, match="at least 10"):
        add_account(store, "carl", "short", admin)
    # a new password is a new row; the old one no longer opens the account
    add_account(store, "anna", "another long secret", admin)
    assert check_password(store, "anna", "correct horse battery") is None
    assert check_password(store, "anna", "another long secret") is not None
    with pytest.raises(Exception, match="append-only"):
        with store.transaction():
            store._db._conn.execute("update " + ("kontor_state." if "postgres" in store.describe() else "")
                                    + "steward_accounts set hash = 'x'")


def test_the_proxy_header_counts_only_when_configured_and_from_a_trusted_proxy(store_settings):
    _, store = store_settings
    add_account(store, "anna", "correct horse battery", Identity("root", "os_user"))
    header = {"X-Forwarded-Email": "bob@example.com"}
    configured = StewardSettings("X-Forwarded-Email", ("127.0.0.1",))
    assert from_request(header, "127.0.0.1", configured, store) == Identity("bob@example.com", "proxy_header")
    assert from_request(header, "10.0.0.7", configured, store) is None            # not from the proxy
    assert from_request(header, "127.0.0.1", StewardSettings(), store) is None    # no header configured
    # a forged header from elsewhere does not beat the password check
    assert from_request({**header, **_basic("anna", "correct horse battery")}, "10.0.0.7", configured, store) \
        == Identity("anna", "local_account")
    assert from_request(_basic("anna", "wrong password!"), "127.0.0.1", configured, store) is None


def test_settings_of_the_stewards_table(tmp_path):
    settings = make_project(tmp_path / "p")
    pyproject = settings.project_dir / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '\n[tool.kontor.stewards]\ntrusted_header = "X-Forwarded-User"\n'
                         'trusted_proxies = ["10.1.2.3"]\n')
    assert steward_settings(settings) == StewardSettings("X-Forwarded-User", ("10.1.2.3",))
    pyproject.write_text(pyproject.read_text().replace("trusted_proxies", "trusted_proxys"))
    with pytest.raises(KontorError, match="unknown key"):
        steward_settings(settings)


def test_a_signed_identity_binds_exactly_one_decision(tmp_path):
    settings = make_project(tmp_path / "p")
    request = {"entity": "customer", "action": "merge", "target_ids": ["crm:1", "erp:2"], "attribute": None,
               "value": None, "comment": None}
    token = sign(settings, Identity("anna", "local_account"), request)
    assert verify(settings, token, request) == Identity("anna", "local_account")
    assert oct(os.stat(settings.project_dir / "state" / "steward.key").st_mode & 0o777) == "0o600"
    with pytest.raises(KontorError, match="another decision"):
        verify(settings, token, {**request, "target_ids": ["crm:1", "erp:3"]})
    with pytest.raises(KontorError, match="typed name is not accepted"):
        verify(settings, None, request)
    body, _, mac = token.partition(".")
    forged = base64.urlsafe_b64encode(base64.urlsafe_b64decode(body).replace(b"anna", b"bert")).decode()
    with pytest.raises(KontorError, match="no authenticated"):
        verify(settings, f"{forged}.{mac}", request)
    with pytest.raises(KontorError, match="expired"):
        verify(settings, token, request, now=10 ** 12)


def test_add_user_on_the_command_line_reads_the_password_without_echo(tmp_path):
    settings = make_project(tmp_path / "p")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KONTOR_")}
    env["KONTOR_PROJECT_DIR"] = str(settings.project_dir)
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "steward", "add-user", "anna", "--password-stdin"],
                          input="a long enough secret\n", env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "a long enough secret" not in done.stdout + done.stderr
    with StateStore.from_settings(settings) as store:
        assert check_password(store, "anna", "a long enough secret") == Identity("anna", "local_account")


def test_kontor_check_names_a_bad_stewards_table(tmp_path):
    from pipelines.check import check_settings

    settings = make_project(tmp_path / "p")
    pyproject = settings.project_dir / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '\n[tool.kontor.stewards]\ntrusted_header = "X Forwarded"\n')
    [problem] = check_settings(settings)
    assert problem.file == "pyproject.toml" and problem.line == 6 and "trusted_header" in problem.message
    pyproject.write_text(pyproject.read_text().replace('"X Forwarded"', '"X-Forwarded-Email"\nspot_check_threshold = 2'))
    [problem] = check_settings(settings)
    assert "spot_check_threshold" in problem.message
