"""The services as Dagster resources (assets/resources.py): configured with dg.EnvVar under the same
variable names the command line reads (pipelines/core/services.py), resolved by Dagster when a run
sets them up, empty where a variable is not set; the engine gets the same plain objects either way."""
from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from assets.resources import (
    AlertWebhooksResource,
    LlmResource,
    MailerResource,
    StateStoreResource,
    service_resources,
    services,
)
from conftest import make_project
from pipelines.core.services import services_for
from pipelines.core.settings import load_settings

SET = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "KONTOR_LLM_MODEL": "qwen2.5", "KONTOR_SMTP_HOST": "127.0.0.1",
       "KONTOR_SMTP_PORT": "2525", "KONTOR_SMTP_STARTTLS": "1", "KONTOR_ALERT_WEBHOOK": "http://127.0.0.1:9/hook"}
UNSET = ("OPENAI_API_KEY", "KONTOR_SMTP_FROM", "KONTOR_SMTP_USER", "KONTOR_SMTP_PASSWORD",
         "KONTOR_ALERT_ESCALATION_WEBHOOK", "KONTOR_STATE_URL")


def test_resources_read_the_environment_through_envvar_and_give_the_clis_objects(tmp_path: Path, monkeypatch):
    make_project(tmp_path / "p")
    for name, value in SET.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("KONTOR_STATE_DIR", str(tmp_path / "state"))
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(tmp_path / "p")                  # the process environment, as kontor dev loads it
    resources = service_resources(settings)
    # what the UI shows: the variable's name, never its value
    assert resources["llm"].base_url == dg.EnvVar("OPENAI_BASE_URL") and resources["llm"].api_key == ""
    assert resources["mailer"].host == dg.EnvVar("KONTOR_SMTP_HOST")

    seen = {}

    @dg.asset
    def uses_services(llm: LlmResource, mailer: MailerResource, alert_webhooks: AlertWebhooksResource,
                      state_store: StateStoreResource) -> None:
        seen["bundle"] = services(llm, mailer, alert_webhooks, state_store)

    assert dg.materialize([uses_services], resources=resources, instance=dg.DagsterInstance.ephemeral()).success
    bundle = seen["bundle"]
    assert bundle == services_for(settings)                   # the command line builds the same objects
    assert (bundle.llm.base_url, bundle.llm.api_key, bundle.llm.model) == ("http://127.0.0.1:9/v1", None, "qwen2.5")
    assert (bundle.smtp.host, bundle.smtp.port, bundle.smtp.starttls, bundle.smtp.sender) == (
        "127.0.0.1", 2525, True, "kontor@localhost")
    assert dict(bundle.webhooks) == {"KONTOR_ALERT_WEBHOOK": "http://127.0.0.1:9/hook"}
    assert (bundle.state.url, bundle.state.dir) == (None, str(tmp_path / "state"))


def test_without_the_variables_there_is_no_llm_no_mailer_and_the_local_state_store(tmp_path: Path, monkeypatch):
    for name in (*SET, *UNSET, "KONTOR_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = make_project(tmp_path / "p", env=dict(os.environ))
    seen = {}

    @dg.asset
    def uses_services(llm: LlmResource, mailer: MailerResource, state_store: StateStoreResource) -> None:
        seen["bundle"] = services(llm, mailer, state_store=state_store)

    assert dg.materialize([uses_services], resources=service_resources(settings),
                          instance=dg.DagsterInstance.ephemeral()).success
    bundle = seen["bundle"]
    assert not bundle.llm.configured and bundle.smtp is None
    with StateStoreResource.from_settings(settings).open(settings) as store:
        assert store.describe().endswith("kontor_state.sqlite") and str(tmp_path / "p" / "state") in store.describe()
