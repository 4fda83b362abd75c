"""The stewards' side of the entity stage: deciding review items, who decides, the review page,
spot checks.

- ``stewardship``: list, decide and apply decisions (the Dagster steward job and ``kontor steward``)
- ``identity``: authenticated identities and four eyes
- ``review``: the review page (``kontor steward review``)
- ``spotchecks``: weekly samples of automatic decisions and their measured error rate
"""
