"""The IBAN (schwifty) and VAT-ID (python-stdnum) checks, in a module that imports nothing of Kontor.

``standardise.py`` checks each distinct value not seen before and caches the verdicts in
``entities._id_checks``. On DuckDB the checks run in this process; on Spark they run on the
executors (``engines.mapped``), where this module travels by value (cloudpickle), so an
executor's Python needs python-stdnum, schwifty and pyarrow, not Kontor. That is why the checks
live here and not in ``types.py`` (which imports sqlglot): ``types.Iban.check`` and
``types.VatId.check`` call these functions, so both engines run the same code.

>>> check_value("iban", "de89 3704 0044 0532 0130 00")
('DE89370400440532013000', True)
>>> check_value("vat_id", "CHE-116.281.710 MWST")
('CHE116281710MWST', True)
"""
from __future__ import annotations

from typing import Callable

# The rules of the IBAN/VAT-ID checks: raise it when a check's verdict changes (2: a bare Swiss UID
# is a valid VAT ID), so a warehouse's cached verdicts are made again rather than kept.
ID_CHECK_RULES = 2
# the libraries the checks import, by the name pip installs them under
LIBRARIES = {"stdnum": "python-stdnum", "schwifty": "schwifty"}


def id_checks_version() -> str:
    """What made the cached checks: Kontor's rules and the versions of the libraries that check."""
    try:
        import schwifty
        import stdnum
    except ImportError as exc:
        raise ImportError(_missing(exc)) from exc
    return f"rules {ID_CHECK_RULES}, python-stdnum {stdnum.__version__}, schwifty {schwifty.__version__}"


def _missing(exc: ImportError) -> str:
    import socket
    import sys

    name = LIBRARIES.get((exc.name or "").split(".")[0], exc.name)
    return (f"Kontor's IBAN/VAT-ID checks need {name}, which the Python at {sys.executable} on "
            f"{socket.gethostname()} lacks ({exc}); fix: pip install python-stdnum schwifty in that Python "
            "(on Spark: every executor's, see README 'Scale-out on Spark')")


def check_iban(value: str) -> tuple[str | None, bool]:
    """(compact form, valid) by schwifty."""
    from schwifty import IBAN
    try:
        return IBAN(value).compact, True
    except Exception:  # schwifty raises several exception classes for invalid values
        return None, False


def check_vat_id(value: str) -> tuple[str | None, bool]:
    """(compact form, valid) by python-stdnum; stdnum.vatin knows non-EU numbers too (Swiss
    CHE-...), stdnum.eu.vat does not. A Swiss one is valid without its 'MWST' / 'TVA' / 'IVA'
    too (stdnum.ch.uid): master data often holds the bare UID (CHE-123.456.789) the VAT number
    is made of. Only when written with 'CHE': nine digits alone are not taken for a Swiss UID.
    A warehouse that checked a bare UID before this checks it again: the cache of the checks,
    ``entities._id_checks``, is emptied when ``ID_CHECK_RULES`` or the library versions change."""
    from stdnum import vatin
    from stdnum.ch import uid
    try:
        return vatin.validate(value), True
    except Exception:  # stdnum raises InvalidFormat, InvalidComponent, ... for invalid values
        pass
    if value.strip().upper().startswith("CHE"):
        try:
            return uid.validate(value), True
        except Exception:
            pass
    try:
        return vatin.compact(value), False
    except Exception:
        return None, False


CHECKS: dict[str, Callable[[str], tuple[str | None, bool]]] = {"iban": check_iban, "vat_id": check_vat_id}


def check_value(kind: str, value: str) -> tuple[str | None, bool]:
    """(compact form, valid) of an IBAN (``kind='iban'``) or VAT ID (``'vat_id'``)."""
    return CHECKS[kind](value)


def checker(version: str) -> Callable[[str, str], tuple[str | None, bool]]:
    """:func:`check_value`, refusing to run where the libraries are not the ones that made
    ``version`` (the :func:`id_checks_version` of the process that records it in
    ``entities._id_checks_version``): an executor with another python-stdnum could give other
    verdicts under the driver's version, and the cache would keep them. A missing library is an
    ``ImportError`` that names it and the Python that lacks it."""
    verified = []

    def check(kind: str, value: str) -> tuple[str | None, bool]:
        if not verified:
            here = id_checks_version()
            if here != version:
                import socket
                import sys

                raise RuntimeError(f"Kontor's IBAN/VAT-ID checks: the Python at {sys.executable} on "
                                   f"{socket.gethostname()} has {here!r}, the driver {version!r}; "
                                   "fix: install the driver's python-stdnum and schwifty versions there")
            verified.append(True)
        return check_value(kind, value)
    return check
