"""Standardisation of customer / supplier master records into one shared schema (prototype).

Everything except IBAN / VAT validation is vectorised DuckDB SQL. IBAN (schwifty) and VAT
(python-stdnum) are checked in Python over the *distinct* raw values, then joined back.

Output table ``std_<entity>`` columns:
  unique_id, source_system, source_id, name, legal_form, street, house_number, postcode, city,
  country, vat_id, iban, email, phone, updated_at            (the shared schema asked for)
  + matching helpers: name_raw, name_key, name_trunc, street_key, city_key, email_domain,
    vat_invalid, iban_invalid
"""
from __future__ import annotations

import re
import time

import duckdb

# ----------------------------------------------------------------------------------------------
# reference data (folded lower case: ä->ae, ö->oe, ü->ue, ß->ss)

# legal-form spellings -> canonical; keys are compared with all non-alphanumerics removed
LEGAL_FORM_SPELLINGS: dict[str, tuple[str, ...]] = {
    "GmbH & Co. KG": ("gmbh & co. kg", "gmbh u. co. kg", "gmbh und co. kg", "gmbh + co. kg", "gmbh&co.kg",
                      "gmbh & co kg", "gmbh & co.kg"),
    "GmbH": ("gmbh", "g.m.b.h.", "mbh", "gesellschaft mit beschraenkter haftung"),
    "UG": ("ug (haftungsbeschraenkt)", "ug (haftungsbeschr.)", "ug haftungsbeschraenkt", "ug (hb)", "ug"),
    "AG": ("ag", "a.g.", "aktiengesellschaft"),
    "KG": ("kg", "k.g.", "kommanditgesellschaft"),
    "OHG": ("ohg", "o.h.g.", "offene handelsgesellschaft"),
    "GbR": ("gbr", "g.b.r.", "gesellschaft buergerlichen rechts"),
    "e.K.": ("e.k.", "e. k.", "ek", "e.kfm.", "e.kfr.", "eingetragener kaufmann", "eingetragene kauffrau"),
}

# name word rules, applied in order on the folded lower-case base name (after the legal form is cut)
NAME_RULES: list[tuple[str, str]] = [
    (r"\s(&|\+|u\.|und)\s", " und "),
    # specific abbreviations first: the generic '(\w)b.' rule below would turn 'Ndb.' into 'ndbau'
    (r"\brgbg\.", "regensburger"),
    (r"\bopf\.", "oberpfaelzer"),
    (r"\bndb\.", "niederbayerische"),
    (r"\bautoh\.", "autohaus"),
    (r"\bsped\.", "spedition"),
    (r"\btransp\.", "transporte"),
    (r"\bgebr\.", "gebrueder"),
    (r"\banl\.", "anlagen"),
    (r"\bwkz\.", "werkzeug"),
    (r"\bind\.", "industrie"),
    (r"\bkunstst\.", "kunststoff"),
    (r"\bpraez\.", "praezisions"),
    (r"\be-technik", "elektrotechnik"),
    (r"\bsohn\b", "soehne"),
    (r"\bmasch\.", "maschinen"),            # Masch.bau, Landmasch., Baumasch., Sondermasch.bau
    (r"masch\.", "maschinen"),
    (r"techn\.", "technik"),                # Landtechn., Elektrotechn., Fördertechn.
    (r"hdl\.", "handel"),                   # Hdl., Stahlhdl.
    (r"bearb\.", "bearbeitung"),
    (r"(\w)b\.([\s\-]|$)", r"\1bau\2"),     # Maschinenb., Metallb., Anlagenb.
]

BRANCH_SUFFIX = r"^(niederlassung|zweigniederlassung|filiale|werk|lager|betriebsst|abt\.|abteilung|z\. ?hd|c/o)"

CITY_ALIASES = {  # city_key (after qualifier cut) -> canonical city_key
    "rgbg": "regensburg", "regensbg": "regensburg", "mchn": "muenchen", "munich": "muenchen",
    "nbg": "nuernberg", "cologne": "koeln", "zurich": "zuerich", "sanktgallen": "stgallen",
    "wieninnerestadt": "wien", "straubingbogen": "straubing", "sulzbachrosenbg": "sulzbachrosenberg",
}

FREEMAIL = ("t-online.de", "gmx.de", "gmx.net", "web.de", "gmail.com", "online.de", "yahoo.de", "outlook.com",
            "hotmail.com", "icloud.com", "aol.com", "freenet.de", "gmx.at", "bluewin.ch")


def _key(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s)


def legal_form_lookup() -> list[tuple[str, str | None, bool]]:
    """(key, canonical or None when ambiguous, is_full) rows: every full spelling key, plus every
    prefix of a key (for names cut to 30 characters by the accounting system)."""
    full: dict[str, str] = {}
    for canon, spellings in LEGAL_FORM_SPELLINGS.items():
        for s in spellings:
            full[_key(s)] = canon
    rows = [(k, c, True) for k, c in full.items()]
    prefixes: dict[str, set[str]] = {}
    for k, c in full.items():
        for i in range(1, len(k) + 1):
            prefixes.setdefault(k[:i], set()).add(c)
    rows += [(p, next(iter(cs)) if len(cs) == 1 else None, False) for p, cs in prefixes.items()]
    return rows


# ----------------------------------------------------------------------------------------------

FOLD = "replace(replace(replace(replace(replace(replace(lower({x}), 'ä', 'ae'), 'ö', 'oe'), 'ü', 'ue'), 'ß', 'ss'), 'é', 'e'), 'è', 'e')"


DEFAULT_OPTS = {
    "fold": True,          # umlaut folding ä->ae ö->oe ü->ue ß->ss (else: lower() only)
    "legal_form": True,    # cut the legal form off the name into its own column
    "lf_fuzzy": True,      # ... also when its spelling has one typo (damerau-levenshtein 1)
    "abbrev": True,        # NAME_RULES (Masch.bau -> maschinenbau, & / + / u. -> und, ...)
    "name2_join": True,    # ERP: append name2 when it is the overflow of a >40 char name
    "id_validation": True, # IBAN via schwifty, VAT via stdnum.vatin; invalid -> NULL
    "street_norm": True,   # Str. / Strasse / Straße -> strasse
    "city_norm": True,     # qualifiers ('a.d. Isar', '/Opf.', '(Allgäu)') and aliases (Rgbg. -> regensburg)
    "phone_norm": True,    # national significant number (drop +49 / 0049 / (0) / trunk 0 / '-0')
}


def fold(x: str, on: bool = True) -> str:
    return FOLD.format(x=x) if on else f"lower({x})"


def _sources_sql(entity: str, name2_join: bool = True) -> str:
    """The raw union in the shared column layout, from Kontor's staging models."""
    # ERP name2 is either the overflow of a name longer than 40 characters (append it) or a branch
    # suffix such as 'Niederlassung Passau' (ignore it): the overflow case is recognisable by length.
    # (name1 is cut at the last blank before 40 chars, so the first word of an overflow name2 cannot have
    # fitted into name1; branch suffixes are recognised by their keyword as well)
    erp_name = ("case when name_addition is not null "
                f"and not regexp_matches(lower(name_addition), '{BRANCH_SUFFIX}') "
                "and length(name) + 1 + length(split_part(name_addition, ' ', 1)) > 40 "
                "then name || ' ' || name_addition else name end") if name2_join else "name"
    if entity == "customer":
        crm = """select 'crm' as source_system, account_id as source_id, name as name_raw, street as street_raw,
                        null::varchar as house_raw, postcode, city, country_code, vat_id, null::varchar as iban,
                        email, phone, updated_at::timestamp as updated_at
                 from wh.staging.stg_crm__accounts"""
        erp_tbl, acc_tbl, erp_id = "stg_erp__customers", "stg_accounting__debitoren", "customer_no"
        parts = [crm]
    else:
        erp_tbl, acc_tbl, erp_id = "stg_erp__suppliers", "stg_accounting__kreditoren", "supplier_no"
        parts = []
    parts.append(f"""select 'erp' as source_system, {erp_id}::varchar as source_id, {erp_name} as name_raw, street as street_raw,
                        house_no as house_raw, postcode, city, country_code, vat_id, iban,
                        null::varchar as email, null::varchar as phone, updated_at::timestamp as updated_at
                 from wh.staging.{erp_tbl}""")
    parts.append(f"""select 'accounting', account_no::varchar, name, street, null, postcode, city, country_code,
                        vat_id, iban, email, phone, updated_at::timestamp
                 from wh.staging.{acc_tbl}""")
    return "\nunion all\n".join(parts)


def standardise(con: duckdb.DuckDBPyConnection, entity: str, timings: dict | None = None,
                opts: dict | None = None) -> str:
    """Create table std_<entity>s in ``con`` (warehouse attached as ``wh``). Returns the table name.
    ``opts`` switches single rules off (see DEFAULT_OPTS) for the ablation runs."""
    timings = timings if timings is not None else {}
    o = {**DEFAULT_OPTS, **(opts or {})}
    out = f"std_{entity}s"
    t0 = time.perf_counter()

    con.execute("create or replace temp table lf_lookup (lf_key varchar, legal_form varchar, is_full boolean)")
    con.executemany("insert into lf_lookup values (?, ?, ?)", legal_form_lookup())
    con.execute(f"create or replace temp table raw_{entity} as {_sources_sql(entity, o['name2_join'])}")

    name_expr = "base0"
    for pat, rep in (NAME_RULES if o["abbrev"] else []):
        name_expr = f"regexp_replace({name_expr}, '{pat}', '{rep}', 'g')"
    city_alias_case = " ".join(f"when '{k}' then '{v}'" for k, v in CITY_ALIASES.items())
    freemail = ", ".join(f"'{d}'" for d in FREEMAIL)

    con.execute(f"""
    create or replace temp table names_{entity} as
    with t as (
        select source_system, source_id, name_raw,
               -- accounting names are cut to 30 characters: the tail may be part of a legal form / word
               source_system = 'accounting' and length(name_raw) >= 29 as name_trunc,
               string_split(trim(regexp_replace({fold('name_raw', o['fold'])}, '[\\s"]+', ' ', 'g')), ' ') as tok
        from raw_{entity}
    ),
    tails as (
        select t.*, k,
               -- 'GmbH & Coo. KG', 'GmbH & oC. KG': a typo inside the longest legal form
               regexp_replace(regexp_replace(array_to_string(tok[-k:], ''), '[^a-z0-9]', '', 'g'),
                              '^(g?mbh)(u|und)?[a-z]{{1,3}}kg$', 'gmbhcokg') as tail_key
        from t, unnest(range(1, least({5 if o['legal_form'] else 0}, len(tok) - 1) + 1)) as r(k)
    ),
    hits as (   -- longest tail that is a legal form (or, for cut names, the beginning of one; then the
                -- prefix row wins, so a trailing 'GmbH' of a cut name stays ambiguous: GmbH / GmbH & Co. KG);
                -- a spelling with one typo ('GmbHH', 'Gesellschaft mt beschränkter Haftung') counts as well
        select * from (
            select tails.source_system, tails.source_id, tails.k, l.legal_form, 0 as fuzzy,
                   (l.is_full = tails.name_trunc) as pref
            from tails join lf_lookup l on l.lf_key = tails.tail_key and (l.is_full or tails.name_trunc)
            union all
            select tails.source_system, tails.source_id, tails.k, l.legal_form, 1, false
            from tails join lf_lookup l
              on l.is_full and length(l.lf_key) >= 4 and abs(length(l.lf_key) - length(tails.tail_key)) <= 1
             and tails.tail_key <> l.lf_key and damerau_levenshtein(tails.tail_key, l.lf_key) = 1
            where {'true' if o['lf_fuzzy'] else 'false'}
        )
        qualify row_number() over (partition by source_system, source_id order by k desc, fuzzy, pref) = 1
    )
    select t.source_system, t.source_id, t.name_raw, t.name_trunc, h.legal_form,
           array_to_string(case when h.k is null then t.tok else t.tok[1:len(t.tok) - h.k] end, ' ') as base0
    from t left join hits h using (source_system, source_id)
    """)

    if o["street_norm"]:
        street_expr = (f"regexp_replace(regexp_replace({fold('street0', o['fold'])}, 'str(\\.|asse)?(\\s|$)', "
                       f"'strasse\\2', 'g'), '\\s+', ' ', 'g')")
    else:
        street_expr = f"{fold('street0', o['fold'])}"
    if o["city_norm"]:
        city_expr = (f"regexp_replace(regexp_replace(regexp_replace({fold('city', o['fold'])}, "
                     "'\\s*(/.*|\\(.*\\))$', ''), "                       # 'Fürth/Bay.', 'Kempten (Allgäu)'
                     "'\\s+((a|i)\\.\\s?d\\.|a\\.|am\\s|an der\\s|in der\\s|im\\s).*$', ''), "  # 'Landau a.d. Isar'
                     "'[^a-z0-9]', '', 'g')")
    else:
        city_expr = f"regexp_replace({fold('city', o['fold'])}, '[^a-z0-9]', '', 'g')"
    if o["phone_norm"]:
        phone_expr = ("regexp_replace(regexp_replace(regexp_replace(coalesce(r.phone, ''), '\\(0\\)', ''), '-0$', ''), "
                      "'[^0-9+]', '', 'g')")
    else:
        phone_expr = "regexp_replace(coalesce(r.phone, ''), '[^0-9]', '', 'g')"

    con.execute(f"""
    create or replace table {out} as
    with n as (
        select *, trim(regexp_replace({name_expr}, '\\s+', ' ', 'g')) as name from names_{entity}
    ),
    r as (
        select r.*,
               -- CRM / DATEV keep street and number in one field: split a trailing house number
               coalesce(r.house_raw, regexp_extract(trim(r.street_raw), '\\s(\\d+\\s*[a-zA-Z]?(\\s*-\\s*\\d+\\s*[a-zA-Z]?)?)$', 1)) as house0,
               case when r.house_raw is null
                    then regexp_replace(trim(r.street_raw), '\\s\\d+\\s*[a-zA-Z]?(\\s*-\\s*\\d+\\s*[a-zA-Z]?)?$', '')
                    else r.street_raw end as street0
        from raw_{entity} r
    ),
    s as (
        select r.*, n.name, n.legal_form, n.name_trunc,
               {street_expr} as street_n,
               nullif(lower(regexp_replace(house0, '\\s', '', 'g')), '') as house_number,
               {city_expr} as city_k0,
               {phone_expr} as ph
        from r join n using (source_system, source_id)
    )
    select
        source_system || ':' || source_id as unique_id,
        source_system, source_id,
        nullif(name, '') as name, legal_form,
        nullif(trim(street_n), '') as street, house_number, postcode,
        nullif({"case city_k0 " + city_alias_case + " else city_k0 end" if o["city_norm"] else "city_k0"}, '') as city,
        country_code as country,
        vat_id as vat_raw, iban as iban_raw,
        nullif(lower(trim(email)), '') as email,
        nullif({"case when ph like '+%' then substr(ph, 4) when ph like '00%' then substr(ph, 5) when ph like '0%' then substr(ph, 2) else ph end" if o["phone_norm"] else "ph"}, '') as phone,
        updated_at,
        name_raw, name_trunc,
        nullif(regexp_replace(name, '[^a-z0-9]', '', 'g'), '') as name_key,
        nullif(regexp_replace(street_n, '[^a-z0-9]', '', 'g'), '') as street_key,
        nullif(case when split_part(lower(email), '@', 2) in ({freemail}) then null
                    else split_part(lower(trim(email)), '@', 2) end, '') as email_domain
    from s
    """)
    t1 = time.perf_counter()
    timings[f"std_sql_{entity}_s"] = round(t1 - t0, 3)

    # IBAN and VAT: validate distinct raw values in Python, join back
    from schwifty import IBAN
    from stdnum import vatin

    def iban_norm(v: str) -> tuple[str, str | None, bool]:
        try:
            return v, IBAN(v).compact, False
        except Exception:  # schwifty raises several subclasses of SchwiftyException / ValueError
            return v, None, True

    def vat_norm(v: str) -> tuple[str, str | None, bool]:
        # stdnum.eu.vat knows EU states only: Swiss 'CHE-123.456.789 MWST' raises there -> stdnum.vatin
        try:
            c = vatin.compact(v)
            return v, (c if vatin.is_valid(c) else None), not vatin.is_valid(c)
        except Exception:
            return v, None, True

    ibans = [r[0] for r in con.execute(f"select distinct iban_raw from {out} where iban_raw is not null").fetchall()]
    vats = [r[0] for r in con.execute(f"select distinct vat_raw from {out} where vat_raw is not null").fetchall()]
    con.execute("create or replace temp table iban_map (raw varchar, iban varchar, invalid boolean)")
    con.execute("create or replace temp table vat_map (raw varchar, vat varchar, invalid boolean)")
    if ibans:
        con.executemany("insert into iban_map values (?, ?, ?)", [iban_norm(v) for v in ibans])
    if vats:
        con.executemany("insert into vat_map values (?, ?, ?)", [vat_norm(v) for v in vats])
    t2 = time.perf_counter()
    timings[f"std_ids_python_{entity}_s"] = round(t2 - t1, 3)
    if o["id_validation"]:
        vat_col, iban_col = "v.vat", "i.iban"
    else:   # only upper case and separators removed, no check digits
        vat_col = "nullif(upper(regexp_replace(s.vat_raw, '[^A-Za-z0-9]', '', 'g')), '')"
        iban_col = "nullif(upper(regexp_replace(s.iban_raw, '[^A-Za-z0-9]', '', 'g')), '')"
    con.execute(f"""
    create or replace table {out} as
    select s.unique_id, s.source_system, s.source_id, s.name, s.legal_form, s.street, s.house_number, s.postcode,
           s.city, s.country, {vat_col} as vat_id, {iban_col} as iban, s.email, s.phone, s.updated_at,
           s.name_raw, s.name_key, s.name_trunc, s.street_key, s.city as city_key, s.email_domain,
           coalesce(v.invalid, false) as vat_invalid, coalesce(i.invalid, false) as iban_invalid
    from {out} s
    left join vat_map v on v.raw = s.vat_raw
    left join iban_map i on i.raw = s.iban_raw
    order by s.unique_id
    """)
    timings[f"std_total_{entity}_s"] = round(time.perf_counter() - t0, 3)
    return out
