"""The Dagster layer: factories that turn Kontor's project files into assets and checks.

Each module exposes ``build_*`` functions taking ``Settings`` and returning Dagster objects;
``pipelines.definitions`` merges them into the one ``Definitions``.
"""
