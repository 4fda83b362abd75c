"""Item master (machinery parts in 8 product groups)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from . import refdata as R

UNITS = ("Stk", "m", "l", "kg", "Satz", "Paar", "Pkg")
_U = {u: i for i, u in enumerate(UNITS)}

_THR = ("1/8", "1/4", "3/8", "1/2", "3/4", "1")
_SIZES_OIL = (("400 g Kartusche", "Stk"), ("1 kg Dose", "Stk"), ("5 l Kanister", "Stk"), ("20 l Kanister", "Stk"),
              ("208 l Fass", "Stk"), ("lose", "l"), ("lose", "kg"))


def _hyd(r: random.Random) -> tuple[str, str]:
    t = r.randrange(8)
    if t == 0:
        b = r.choice((32, 40, 50, 63, 80, 100))
        return f"Hydraulikzylinder DW {b}/{b // 2 + r.choice((0, 5))}-{r.choice((100, 150, 200, 300, 500))}", "Stk"
    if t == 1:
        return f"Hydraulikschlauch 2SN DN{r.choice((6, 8, 10, 12, 16, 20, 25))} Meterware", "m"
    if t == 2:
        return f"Kugelhahn {r.choice(('2-Wege', '3-Wege'))} G{r.choice(_THR)}", "Stk"
    if t == 3:
        return f"Druckbegrenzungsventil {r.choice((100, 160, 210, 315))} bar G{r.choice(_THR)}", "Stk"
    if t == 4:
        return f"Zahnradpumpe {r.choice((4, 6, 8, 11, 14, 16, 19, 25))} ccm", "Stk"
    if t == 5:
        return f"Hydraulikfilter-Element {r.choice(('HF', 'RF', 'DF'))}{r.randint(100, 999)} {r.choice((10, 25))} µm", "Stk"
    if t == 6:
        return f"Rückschlagventil RV G{r.choice(_THR)}", "Stk"
    return f"Schnellkupplung BG{r.randint(1, 5)} Stecker", "Stk"


def _pneu(r: random.Random) -> tuple[str, str]:
    t = r.randrange(7)
    if t == 0:
        return f"Pneumatikzylinder ISO 15552 D{r.choice((32, 40, 50, 63, 80))} Hub {r.choice((50, 100, 160, 200, 320))}", "Stk"
    if t == 1:
        return f"Magnetventil 5/2 G{r.choice(_THR[:4])} 24V DC", "Stk"
    if t == 2:
        return f"Wartungseinheit G{r.choice(_THR[1:5])} mit Manometer", "Stk"
    if t == 3:
        return f"Steckverschraubung gerade {r.choice((4, 6, 8, 10, 12))}mm G{r.choice(_THR[:4])}", "Stk"
    if t == 4:
        d = r.choice((4, 6, 8, 10, 12))
        return f"PU-Schlauch {d}x{d - 2 if d > 4 else 2.5} {r.choice(('blau', 'schwarz', 'transparent'))}", "m"
    if t == 5:
        return f"Druckregler G{r.choice(_THR[:4])} 0-10 bar", "Stk"
    return f"Kompaktzylinder D{r.choice((16, 20, 25, 32))} Hub {r.choice((10, 25, 50))}", "Stk"


def _antrieb(r: random.Random) -> tuple[str, str]:
    t = r.randrange(7)
    if t == 0:
        return f"Keilriemen {r.choice(('SPZ', 'SPA', 'SPB', 'XPZ'))} {r.randrange(600, 3000, 25)}", "Stk"
    if t == 1:
        return f"Zahnriemen HTD {r.choice((5, 8, 14))}M-{r.randrange(400, 2400, 40)}-{r.choice((15, 20, 30, 50))}", "Stk"
    if t == 2:
        return f"Getriebemotor {r.choice(('0,25', '0,37', '0,55', '0,75', '1,1', '1,5', '2,2'))} kW i={r.choice((5, 10, 20, 40))}", "Stk"
    if t == 3:
        return f"Rollenkette DIN 8187 {r.choice(('06B-1', '08B-1', '10B-1', '12B-1'))} 5 m", "Stk"
    if t == 4:
        return f"Kettenrad {r.choice(('08B-1', '10B-1'))} Z{r.randint(9, 40)}", "Stk"
    if t == 5:
        return f"Elastische Kupplung Gr. {r.choice((19, 24, 28, 38, 42))} komplett", "Satz"
    return f"Drehstrommotor {r.choice(('0,75', '1,5', '3', '5,5', '7,5'))} kW {r.choice((2, 4, 6))}-polig IE3", "Stk"


def _lager(r: random.Random) -> tuple[str, str]:
    t = r.randrange(6)
    if t == 0:
        return f"Rillenkugellager {r.choice((6000, 6200, 6300)) + r.randint(0, 12)}-2RS", "Stk"
    if t == 1:
        return f"Pendelrollenlager 22{r.randint(205, 220)} E", "Stk"
    if t == 2:
        return f"Kegelrollenlager 302{r.randint(3, 20):02d}", "Stk"
    if t == 3:
        return f"Stehlagereinheit UCP2{r.randint(4, 12):02d}", "Stk"
    if t == 4:
        return f"Schrägkugellager 72{r.randint(4, 14):02d} B paarweise", "Paar"
    return f"Zylinderrollenlager NU 2{r.randint(4, 20):02d} ECP", "Stk"


def _dicht(r: random.Random) -> tuple[str, str]:
    t = r.randrange(6)
    if t == 0:
        return f"O-Ring {r.randint(5, 120)}x{r.choice((1.5, 2, 2.5, 3, 4, 5))} {r.choice(('NBR70', 'FKM80', 'EPDM70'))} (50 Stk)", "Pkg"
    if t == 1:
        d = r.choice((20, 25, 30, 35, 40, 45, 50, 60))
        return f"Wellendichtring {d}x{d + r.choice((12, 15, 17, 20))}x{r.choice((7, 8, 10))} {r.choice(('NBR', 'FKM'))}", "Stk"
    if t == 2:
        return f"Flachdichtung DN{r.choice((15, 25, 32, 50, 80, 100))} PN16", "Stk"
    if t == 3:
        return f"Dichtungssatz Zylinder D{r.choice((32, 40, 50, 63, 80, 100))}", "Satz"
    if t == 4:
        d = r.choice((20, 25, 30, 36, 40, 50))
        return f"Stangendichtung {d}x{d + 10}x{r.choice((6, 8))}", "Stk"
    return f"Dichtschnur PTFE {r.choice((4, 6, 8, 10))}mm", "m"


def _befest(r: random.Random) -> tuple[str, str]:
    t = r.randrange(6)
    m = r.choice((4, 5, 6, 8, 10, 12, 16, 20))
    if t == 0:
        return f"Sechskantschraube DIN 933 M{m}x{m * r.choice((2, 3, 4, 5))} 8.8 verz. (100 Stk)", "Pkg"
    if t == 1:
        return f"Sechskantmutter DIN 934 M{m} verz. (100 Stk)", "Pkg"
    if t == 2:
        return f"Zylinderschraube DIN 912 M{m}x{m * r.choice((2, 3, 4))} 12.9 (50 Stk)", "Pkg"
    if t == 3:
        return f"Scheibe DIN 125 M{m} (200 Stk)", "Pkg"
    if t == 4:
        return f"Gewindestange DIN 976 M{m} 1 m", "Stk"
    return f"Spannstift DIN 1481 {r.choice((3, 4, 5, 6, 8))}x{r.choice((20, 30, 40))} (100 Stk)", "Pkg"


def _linear(r: random.Random) -> tuple[str, str]:
    t = r.randrange(6)
    s = r.choice((15, 20, 25, 30, 35))
    if t == 0:
        return f"Profilschiene {s} mm", "m"
    if t == 1:
        return f"Führungswagen {s} mm Flansch", "Stk"
    if t == 2:
        return f"Linearlager LM{r.choice((8, 10, 12, 16, 20, 25))}UU", "Stk"
    if t == 3:
        return f"Kugelgewindetrieb {r.choice((16, 20, 25, 32))}x{r.choice((5, 10))}, {r.randrange(300, 2000, 100)} mm", "Stk"
    if t == 4:
        return f"Präzisionswelle D{r.choice((8, 10, 12, 16, 20, 25, 30))} h6", "m"
    return f"Linearmodul Hub {r.randrange(100, 1500, 100)} mm", "Stk"


def _schmier(r: random.Random) -> tuple[str, str]:
    t = r.randrange(5)
    size, unit = r.choice(_SIZES_OIL)
    if t == 0:
        return f"Hydrauliköl HLP {r.choice((22, 32, 46, 68))} {size}", unit if unit != "kg" else "l"
    if t == 1:
        return f"Mehrzweckfett Lithium NLGI {r.choice((2, 3))} {size}", unit if unit != "l" else "kg"
    if t == 2:
        return f"Getriebeöl CLP {r.choice((100, 150, 220, 320, 460))} {size}", unit if unit != "kg" else "l"
    if t == 3:
        return f"Kettenspray {r.choice((300, 400, 500))} ml", "Stk"
    return f"Kühlschmierstoff {r.choice(('wassermischbar', 'synthetisch'))} {size}", unit if unit != "kg" else "l"


_GEN = (_hyd, _pneu, _antrieb, _lager, _dicht, _befest, _linear, _schmier)
# median list prices (EUR) per group and per unit adjustment
_MEDIAN = (85.0, 55.0, 110.0, 35.0, 14.0, 12.0, 140.0, 28.0)
_UNIT_FACTOR = {"Stk": 1.0, "m": 0.12, "l": 0.07, "kg": 0.2, "Satz": 1.5, "Paar": 2.0, "Pkg": 1.0}


@dataclass
class Items:
    item_no: list[str]
    group: np.ndarray  # int group index
    unit: np.ndarray  # int index into UNITS
    price: np.ndarray  # list price cents
    cost: np.ndarray  # standard cost cents
    supplier_no: np.ndarray
    popularity: np.ndarray  # sums to 1 within each group
    by_group: list[np.ndarray]
    cdf_by_group: list[np.ndarray]
    cdf_all: np.ndarray

    def __len__(self) -> int:
        return len(self.item_no)


def make_items(n: int, n_suppliers: int, seed: int) -> tuple[Items, dict]:
    rnd = random.Random(f"{seed}:items")
    rng = np.random.default_rng([seed, 7])
    ng = len(R.PRODUCT_GROUPS)
    gw = np.array([g[2] for g in R.PRODUCT_GROUPS])
    group = np.concatenate([np.arange(ng), rng.choice(ng, size=max(n - ng, 0), p=gw / gw.sum())])[:n]
    group = np.sort(group, kind="stable")
    desc, units = [], []
    for g in group.tolist():
        d, u = _GEN[g](rnd)
        desc.append(d)
        units.append(u)
    unit_idx = np.array([_U[u] for u in units], dtype=np.int64)
    med = np.array(_MEDIAN)[group] * np.array([_UNIT_FACTOR[u] for u in units])
    price_eur = med * np.exp(rng.normal(0.0, 0.6, size=n))
    price = np.maximum(np.round(price_eur * 20) * 5, 50).astype(np.int64)  # multiples of 0.05 EUR
    cost = np.round(price * rng.uniform(0.52, 0.74, size=n)).astype(np.int64)
    # supplier: suppliers with index s % 8 == group specialise in that group
    n_class = (n_suppliers - group + ng - 1) // ng
    s_idx = group + ng * (rng.random(n) * n_class).astype(np.int64)
    supplier_no = 700001 + s_idx
    pop = rng.pareto(1.2, size=n) + 0.05
    popularity = np.empty(n)
    by_group, cdf_by_group = [], []
    for g in range(ng):
        ix = np.flatnonzero(group == g)
        p = pop[ix] / pop[ix].sum()
        popularity[ix] = p
        by_group.append(ix)
        c = np.cumsum(p)
        c[-1] = 1.0
        cdf_by_group.append(c)
    glob = popularity * (gw / gw.sum())[group]
    cdf_all = np.cumsum(glob / glob.sum())
    cdf_all[-1] = 1.0
    item_no = [f"A-{10001 + i}" for i in range(n)]
    items = Items(item_no, group, unit_idx, price, cost, supplier_no, popularity, by_group, cdf_by_group, cdf_all)
    cols = {
        "item_no": item_no,
        "description": desc,
        "product_group": [R.PRODUCT_GROUPS[g][0] for g in group.tolist()],
        "product_group_name": [R.PRODUCT_GROUPS[g][1] for g in group.tolist()],
        "unit": units,
        "list_price": price,
        "standard_cost": cost,
        "supplier_no": supplier_no,
    }
    return items, cols
