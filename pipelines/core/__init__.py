"""Shared utilities and services every stage uses; none of them imports a stage or Dagster's assets.

- ``errors``: ``Problem`` (file, line, message), ``KontorError``, ``did_you_mean``
- ``yamlfile``: YAML with line numbers, UTF-8 or a clear error
- ``spec``: ``Spec`` (pydantic base of every project file's models) and ``validate``, the one loader
  that reports every problem as ``file:line: message``
- ``settings``: ``[tool.kontor]`` and the environment, read only when asked (``settings_spec``: its
  pydantic model, loaded only when a setting needs wording or by ``kontor check``)
- ``sql``: a stage's SQL templates (``sql/*.sql`` beside it), ``:name`` placeholders filled with
  identifiers through sqlglot, quoting (``templates``: a template's text alone, without sqlglot,
  for what only runs one, such as ``warehouse``); ``parsed``: sqlglot's parse, remembered (per process, by
  content hash under ``target/.cache/sqlglot/``); ``csvsafe``: CSV cells that never run as formulas
- ``names``: one name for one model in every command
- ``warehouse``: DuckDB connections, bookkeeping tables, the serving copy
- ``state``: the state store (steward decisions, audit log; PostgreSQL or SQLite)
- ``services``: the ``Services`` bundle the engine is handed (LLM, mailer, alert webhooks, state
  store location), and ``services_for``, which builds it from the environment for the CLI
- ``alerts``, ``retries``, ``runlock``, ``dagster_instance``: running (alerts, retry policy, one
  writer, the local Dagster instance)

Modules are imported by their full name (``from pipelines.core.errors import Problem``); this
package imports nothing itself, so ``kontor --help`` stays light.
"""
