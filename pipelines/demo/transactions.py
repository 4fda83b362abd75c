"""Vectorised transaction generation: orders, order lines, invoices, payments, open items, POs.

All days are integer offsets relative to refdata.PERIOD_START (0 .. N_DAYS-1).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from . import refdata as R
from .items import UNITS, Items

LAST = R.N_DAYS - 1
_WD0 = R.PERIOD_START.weekday()  # weekday of day 0
_MONTH_OF_DAY = np.array(
    [((R.PERIOD_START + dt.timedelta(days=d)).year - R.PERIOD_START.year) * 12
     + (R.PERIOD_START + dt.timedelta(days=d)).month - R.PERIOD_START.month for d in range(R.N_DAYS)],
    dtype=np.int64,
)
N_MONTHS = int(_MONTH_OF_DAY[-1]) + 1
PRICE_INCREASE_DAY = (dt.date(2026, 1, 1) - R.PERIOD_START).days

# the KPI story: in the last month, product group DROP_GROUP collapses in region DROP_REGION
DROP_GROUP = 0  # PG-A Hydraulik
DROP_REGION = R.REGIONS.index("South")
DROP_SHARE = 0.7

_SEASON = {1: 0.85, 2: 0.95, 3: 1.12, 4: 1.10, 5: 1.05, 6: 1.0, 7: 0.97, 8: 0.72, 9: 1.06, 10: 1.12, 11: 1.05, 12: 0.78}


def _day_weights() -> np.ndarray:
    w = np.empty(R.N_DAYS)
    for d in range(R.N_DAYS):
        date = R.PERIOD_START + dt.timedelta(days=d)
        wd = (1.0, 1.0, 1.0, 1.0, 0.95, 0.04, 0.0)[date.weekday()]
        if (date.month == 12 and date.day >= 24) or (date.month == 1 and date.day <= 6):
            wd *= 0.15
        trend = 1.0 + 0.07 * _MONTH_OF_DAY[d] / 12.0
        w[d] = _SEASON[date.month] * trend * wd
    return w / w.sum()


DAY_P = _day_weights()
DAY_CDF = np.cumsum(DAY_P)
DAY_CDF[-1] = 1.0
CDF_BEFORE = np.concatenate([[0.0], DAY_CDF[:-1]])  # P(day < d)


def to_weekday(days: np.ndarray) -> np.ndarray:
    """Shift Saturdays/Sundays to the following Monday."""
    wd = (days + _WD0) % 7
    return days + np.where(wd == 5, 2, np.where(wd == 6, 1, 0))


def office_seconds(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(7 * 3600, 18 * 3600 + 1800, size=n)


@dataclass
class SalesCustomers:
    """Active (invoiced) customers of one chunk."""

    customer_no: np.ndarray
    konto: np.ndarray
    region: np.ndarray  # index into R.REGIONS (ERP copy)
    terms: np.ndarray  # Zahlungsziel in accounting
    tax_bp: np.ndarray  # 1900 or 0
    start_day: np.ndarray  # first possible order day
    discount_bp: np.ndarray
    pay_type: np.ndarray


def sales(rng: np.random.Generator, c: SalesCustomers, items: Items, orders_per_customer: float,
          counters: dict) -> dict:
    """Generate orders, lines, invoices, payments and open items for a chunk of customers."""
    k = len(c.customer_no)
    ng = len(R.PRODUCT_GROUPS)
    # customer activity (heavy tailed) and product preference
    w = rng.lognormal(0.0, 1.0, size=k) / np.exp(0.5)
    f0 = CDF_BEFORE[np.minimum(c.start_day, LAST)]
    lam = orders_per_customer * w * (1.0 - f0)
    n_orders = rng.poisson(lam)
    ci = np.repeat(np.arange(k), n_orders)
    m = len(ci)
    u = f0[ci] + (1.0 - f0[ci]) * rng.random(m)
    day = np.minimum(np.searchsorted(DAY_CDF, u, side="right"), LAST)
    order = np.lexsort((rng.random(m), day))
    ci, day = ci[order], day[order]
    order_no = counters["order"] + np.arange(m, dtype=np.int64)
    counters["order"] += m

    # status
    lag = rng.integers(1, 9, size=m)
    deliv = to_weekday(day + lag)
    cancelled = rng.random(m) < 0.03
    backorder = rng.random(m) < 0.005
    is_open = ~cancelled & ((deliv > LAST) | backorder)
    done = ~cancelled & ~is_open
    late_status = (deliv >= LAST - 10) | (rng.random(m) < 0.03)
    status = np.where(cancelled, "cancelled", np.where(is_open, "open", np.where(late_status, "delivered", "invoiced")))
    upd_day = np.where(done, deliv, np.where(cancelled, np.minimum(day + rng.integers(0, 4, size=m), LAST), day))
    region_idx = c.region[ci]
    orders = {
        "order_no": order_no,
        "customer_no": c.customer_no[ci],
        "order_day": day,
        "region": np.array(R.REGIONS, dtype=object)[region_idx],
        "status": status.astype(object),
        "updated_day": upd_day,
        "updated_sec": office_seconds(rng, m),
    }

    # lines
    nl = np.minimum(1 + rng.poisson(2.0, size=m), 12)
    L = int(nl.sum())
    li = np.repeat(np.arange(m), nl)
    starts = np.concatenate([[0], np.cumsum(nl)[:-1]])
    line_no = (np.arange(L) - starts[li] + 1).astype(np.int32)
    gw = np.array([g[2] for g in R.PRODUCT_GROUPS])
    gcdf = np.cumsum(gw / gw.sum())
    gcdf[-1] = 1.0
    grp = np.minimum(np.searchsorted(gcdf, rng.random(L), side="right"), ng - 1)
    pref = rng.integers(0, ng, size=k)  # each customer has a favourite product group
    use_pref = rng.random(L) < 0.35
    grp = np.where(use_pref, pref[ci[li]], grp)
    # the drop: last month, DROP_REGION buys much less of DROP_GROUP
    month = _MONTH_OF_DAY[day[li]]
    drop = (grp == DROP_GROUP) & (region_idx[li] == DROP_REGION) & (month == N_MONTHS - 1) & (rng.random(L) < DROP_SHARE)
    if drop.any():
        gw2 = gw.copy()
        gw2[DROP_GROUP] = 0.0
        gcdf2 = np.cumsum(gw2 / gw2.sum())
        gcdf2[-1] = 1.0
        grp[drop] = np.minimum(np.searchsorted(gcdf2, rng.random(int(drop.sum())), side="right"), ng - 1)
    item = np.empty(L, dtype=np.int64)
    ur = rng.random(L)
    for g in range(ng):
        ix = np.flatnonzero(grp == g)
        if len(ix):
            pos = np.minimum(np.searchsorted(items.cdf_by_group[g], ur[ix], side="right"), len(items.by_group[g]) - 1)
            item[ix] = items.by_group[g][pos]
    unit = items.unit[item]
    q = _quantities(rng, unit, L, bulk=False)
    price = items.price[item]
    price = np.where(day[li] >= PRICE_INCREASE_DAY, (price * 1035 + 500) // 1000, price)
    price = np.where(rng.random(L) < 0.05, (price * 90 + 50) // 100, price)  # special prices
    disc = c.discount_bp[ci[li]] + np.where(rng.random(L) < 0.08, 500, 0)
    net = (q * price * (10000 - disc) + 500_000) // 1_000_000
    lines = {
        "order_no": order_no[li],
        "line_no": line_no,
        "item": item,
        "quantity": q,
        "unit_price": price,
        "discount_pct": disc,
        "net_amount": net,
    }

    # invoices (delivered / invoiced orders), numbered in date order
    netto_order = np.add.reduceat(net, starts) if m else np.zeros(0, dtype=np.int64)
    oi = np.flatnonzero(done)
    oi = oi[np.lexsort((order_no[oi], deliv[oi]))]
    ni = len(oi)
    beleg = counters["invoice"] + np.arange(ni, dtype=np.int64)
    counters["invoice"] += ni
    ic = ci[oi]
    bdate = deliv[oi]
    terms = c.terms[ic]
    due = bdate + terms
    netto = netto_order[oi]
    steuer = (netto * c.tax_bp[ic] + 5000) // 10000
    brutto = netto + steuer
    konto = c.konto[ic]
    invoices = {"belegnr": beleg, "belegdatum": bdate, "konto": konto, "faellig": due, "netto": netto,
                "steuer": steuer, "brutto": brutto, "auftragsnr": order_no[oi]}

    # payments
    pt = c.pay_type[ic]
    r = rng.random(ni)
    delay = np.where(
        pt == 0, rng.integers(3, terms + 6) + np.where(r < 0.04, rng.integers(5, 30, size=ni), 0),
        np.where(pt == 1, terms + rng.integers(3, 60, size=ni),
                 np.where(pt == 2, terms + rng.integers(15, 120, size=ni), terms + rng.integers(40, 200, size=ni))))
    unpaid = (rng.random(ni) < 0.015) | ((pt == 3) & (rng.random(ni) < 0.6))
    split = ~unpaid & (((pt == 2) & (rng.random(ni) < 0.4)) | (rng.random(ni) < 0.02))
    short = ~unpaid & ~split & (rng.random(ni) < 0.015)  # short payment, remainder stays open
    frac = rng.uniform(0.3, 0.7, size=ni)
    amt1 = np.where(unpaid, 0, np.where(split, np.round(brutto * frac).astype(np.int64),
                                        np.where(short, np.round(brutto * rng.uniform(0.8, 0.97, size=ni)).astype(np.int64),
                                                 brutto)))
    amt2 = np.where(split, brutto - amt1, 0)
    d1 = to_weekday(bdate + delay)
    d2 = to_weekday(d1 + rng.integers(14, 90, size=ni))
    p_inv = np.concatenate([np.arange(ni), np.arange(ni)])
    p_day = np.concatenate([d1, d2])
    p_amt = np.concatenate([amt1, amt2])
    keep = (p_amt > 0) & (p_day <= LAST)
    p_inv, p_day, p_amt = p_inv[keep], p_day[keep], p_amt[keep]
    po = np.lexsort((beleg[p_inv], p_day))
    p_inv, p_day, p_amt = p_inv[po], p_day[po], p_amt[po]
    npay = len(p_inv)
    pay_no = counters["payment"] + np.arange(npay, dtype=np.int64)
    counters["payment"] += npay
    payments = {"zahlungsnr": pay_no, "datum": p_day, "konto": konto[p_inv], "belegnr": beleg[p_inv], "betrag": p_amt}
    paid = np.bincount(p_inv, weights=p_amt, minlength=ni).round().astype(np.int64) if ni else np.zeros(0, np.int64)
    open_amt = brutto - paid
    oo = np.flatnonzero(open_amt > 0)
    open_items = {"belegnr": beleg[oo], "konto": konto[oo], "belegdatum": bdate[oo], "faellig": due[oo],
                  "offen": open_amt[oo]}
    return {"orders": orders, "lines": lines, "invoices": invoices, "payments": payments, "open_items": open_items}


def _quantities(rng: np.random.Generator, unit: np.ndarray, n: int, bulk: bool) -> np.ndarray:
    """Quantities in 1/100 units."""
    U = {u: i for i, u in enumerate(UNITS)}
    pieces = np.minimum(rng.geometric(0.3, size=n), 100)
    pieces = np.where(rng.random(n) < 0.03, pieces * 5, pieces)
    q = pieces * 100
    q = np.where(unit == U["m"], rng.integers(1, 100, size=n) * 50, q)
    q = np.where(unit == U["l"], rng.choice(np.array([1, 5, 10, 20, 60, 208]), size=n) * 100, q)
    q = np.where(unit == U["kg"], rng.integers(1, 26, size=n) * 100, q)
    small = (unit == U["Satz"]) | (unit == U["Paar"]) | (unit == U["Pkg"])
    q = np.where(small, np.minimum(rng.geometric(0.45, size=n), 50) * 100, q)
    if bulk:
        q = q * rng.choice(np.array([5, 10, 20, 50]), size=n)
    return q.astype(np.int64)


def purchase_orders(rng: np.random.Generator, n: int, items: Items, counters: dict) -> dict:
    item = np.minimum(np.searchsorted(items.cdf_all, rng.random(n), side="right"), len(items) - 1)
    day = np.minimum(np.searchsorted(DAY_CDF, rng.random(n), side="right"), LAST)
    o = np.lexsort((item, day))
    item, day = item[o], day[o]
    q = _quantities(rng, items.unit[item], n, bulk=True)
    net = (q * items.cost[item] + 50) // 100
    po_no = counters["po"] + np.arange(n, dtype=np.int64)
    counters["po"] += n
    return {"po_no": po_no, "supplier_no": items.supplier_no[item], "order_day": day, "item": item,
            "quantity": q, "net_amount": net}
