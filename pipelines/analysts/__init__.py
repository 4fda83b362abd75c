"""What analysts use: ad-hoc queries, the interactive shell, exports and table descriptions,
all on the read-only serving copy.

- ``query`` (``kontor query``) and ``output`` (tables, CSV, JSON, Markdown)
- ``shell`` (``kontor sql``), ``export`` (``kontor export``)
- ``docs``: YAML descriptions as DuckDB comments, ``kontor describe``
"""
