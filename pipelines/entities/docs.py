"""What the entity stage's tables hold, for the comments analysts read (``kontor describe``).

The entity stage builds its tables in Python, so their descriptions live here rather than in
YAML: the grain of every ``entities.<entity>_<part>`` table and every column, by name for the
fixed columns and by pattern for those an entity's declaration names (``<attribute>_key``,
``gamma_<comparison>``, ``<column>_l`` ...). A declared attribute is described by its type.

>>> docs = {d.relation: d for d in entity_table_docs("customer", None)}
>>> docs["entities.customer_xref"].describe("golden_id")
'Golden id of the cluster the record belongs to (stable across runs)'
>>> docs["entities.customer_pairs"].describe("gamma_iban")
"Splink's comparison level for iban: -1 a value missing, 0 no agreement, higher levels closer agreement"
"""
from __future__ import annotations

from pipelines.analysts.docs import TableDoc

# part -> (grain, description when the asset carries none)
GRAINS = {
    "standardised": "source record (unique_id = system:source_id)",
    "pairs": "scored candidate pair (unique_id_l, unique_id_r)",
    "clusters": "source record (unique_id)",
    "golden": "golden id",
    "xref": "source record (system, source_id)",
    "conflicts": "golden id, attribute and candidate value (golden_id, attribute, unique_id)",
    "review_queue": "review item (item_id)",
    "sync_proposals": "source record and column to change (system, source_id, column_name)",
    "id_history": "golden-id event per run (run_id, golden_id, event)",
    "spot_check_precision": "judged ISO week (week), plus one pooled row over the window (week null)",
}

# parts that are no asset of their own (the spot checks' table), described here
DESCRIPTIONS = {"spot_check_precision": "Estimated precision of the automatic merges, from the stewards' weekly "
                                        "spot checks: per judged week and pooled over the recent weeks."}

COLUMNS = {
    "unique_id": "Source record as system:source_id, the id Splink matches on",
    "source_system": "Source system of the record (crm, erp, accounting ...)",
    "system": "Source system of the record (crm, erp, accounting ...)",
    "source_id": "The record's id in its source system (customer number, account id ...)",
    "golden_id": "Golden id of the cluster the record belongs to (stable across runs)",
    "previous_golden_id": "Golden id the record had after the previous run (null: new record)",
    "cluster_size": "How many source records the cluster holds",
    "member_count": "How many source records make up the golden record",
    "systems": "The source systems that know the golden record",
    "display_name": "Name to show: the golden name with its legal form",
    "attributes_in_review": "Attributes left empty because a critical conflict awaits a steward",
    "match_probability": "Splink's match probability of the pair (0-1); for xref the best pair that joined "
                         "the record, null for a record alone or joined by a steward",
    "match_weight": "Splink's match weight (log2 Bayes factor) of the pair",
    "match_key": "Which blocking rule produced the pair (Splink's match_key, 0 = the first)",
    "matched_by": "How the record came to its golden id: model, steward decision or alone",
    "attribute": "The golden record's attribute (name, iban, vat_id ...)",
    "value": "A candidate value of the attribute as a source record holds it",
    "valid": "Whether the value is valid (IBAN, VAT ID checked; null where the attribute has no check)",
    "won": "Whether survivorship chose this value for the golden record",
    "reason": "Why: the survivorship rule that decided, or why the item needs a steward",
    "item_id": "Review item id (pair:..., conflict:..., chain:...), as kontor steward show takes it",
    "kind": "What kind of item or check this is",
    "priority": "1 first: what a wrong decision would cost (critical conflicts, chains, pairs ...)",
    "golden_ids": "The golden ids the item concerns",
    "members": "The source records of the item with their values, side by side",
    "status": "open, pending (awaiting a second steward) or decided",
    "run_id": "The Dagster run that wrote the row",
    "listed_at": "When the item was listed (UTC)",
    "cost": "Estimated cost of a wrong decision, the queue's order within a priority",
    "model": "The staging model the source record comes from",
    "column_name": "The column of that model (and of the source system) to change",
    "current_value": "The value the system holds now",
    "proposed_value": "The golden record's value the system would take",
    "requires_signoff": "Whether a person must sign the change off before import (IBAN, VAT ID)",
    "recorded_at": "When the event was recorded (UTC)",
    "event": "created, merged (into related_id), split (off related_id) or retired",
    "related_id": "The other golden id of a merge or split",
    "detail": "What happened, in words",
    "updated_at": "When the source record last changed, as the system says",
    "name_raw": "Name as the system wrote it",
    "street_raw": "Street and house number as the system wrote them",
    "name": "Company name without its legal form, standardised (abbreviations expanded)",
    "legal_form": "Legal form (GmbH, AG, GmbH & Co. KG ...), from the name or its own field",
    "street": "Street without house number, spelling standardised (Str. -> Straße)",
    "house_number": "House number, cut from the street where the system wrote them together",
    "postcode": "Postcode",
    "city": "City, aliases resolved (_reference.yml)",
    "country": "Country (ISO 3166 alpha-2)",
    "vat_id": "VAT identification number (USt-IdNr.), compact",
    "vat_id_valid": "Whether the VAT ID passes python-stdnum's check; invalid ones are kept and flagged",
    "iban": "IBAN, compact",
    "iban_valid": "Whether the IBAN passes schwifty's check; invalid ones are kept and flagged, never matched on",
    "email": "E-mail address",
    "phone": "Phone number as written",
    "name_words": "The words of the name key, for comparing names word by word",
    "name_trunc": "Whether the name looks cut off by the source system's field length",
    "email_domain": "The e-mail address's domain",
    "name_key": "The name as compared: lower case, legal form cut, abbreviations expanded, umlauts folded",
    "street_key": "The street as compared: spelling standardised (Str. -> strasse), lower case",
    "city_key": "The city as compared: aliases resolved, lower case",
    "phone_key": "The phone number as compared: digits only, international form",
    "email_key": "The e-mail address as compared: lower case",
    "vat_key": "The VAT ID as compared (compact, upper case); only valid ones are matched on",
    "iban_key": "The IBAN as compared (compact, upper case); only valid ones are matched on",
    "register_number": "Commercial register number as written (HRB 12345 B, Amtsgericht Charlottenburg)",
    "register_number_valid": "Whether the register number reads as one (HRA, HRB, GnR, PR or VR and a number)",
    "register_key": "The register number as compared: register and number, court left out (HRB12345B); valid ones only",
    "week": "ISO week judged (2026-W43); null in the pooled row",
    "weeks": "Weeks the row pools: 1 for a week, the window for the pooled row",
    "judged": "Verdicts given (correct + wrong + unsure)",
    "correct": "Automatic decisions a steward judged correct",
    "wrong": "Automatic decisions a steward judged wrong",
    "unsure": "Verdicts 'unsure'",
    "precision": "Estimated precision of the automatic merges (stratum-weighted; null without verdicts)",
    "low": "Lower bound of the 95 % Wilson interval of the precision",
    "high": "Upper bound of the 95 % Wilson interval of the precision",
}

# columns an entity's declaration names: (suffix or prefix, text with {0} for the rest of the name)
SUFFIXES = (
    ("_key", "{0} as compared: standardised for matching (case, spelling, abbreviations removed)"),
    ("_valid", "Whether {0} passes its check; invalid values are kept and flagged, never matched on"),
    ("_l", "First record of the pair: {0}"),
    ("_r", "Second record of the pair: {0}"),
)
PREFIXES = (("gamma_", "Splink's comparison level for {0}: -1 a value missing, 0 no agreement, higher levels closer agreement"),
            ("tf_", "Term frequency of {0}'s value (Splink's term-frequency adjustment)"),
            ("bf_", "Bayes factor of {0}'s comparison level"))

INTERNAL = {
    "entities._models": TableDoc("entities._models", "The entities' trained Splink models, every version kept.",
                                 "entity and model version (entity, version)", {
        "entity": "The entity (customer, supplier ...)", "version": "Model version, 1 upwards",
        "trained_at": "When it was trained (UTC)", "reason": "Why it was trained: first run, settings changed, drift, --retrain",
        "settings_hash": "Hash of the entity's Splink settings it was trained with",
        "fingerprint": "The input's profile at training (records per system, key fill rates), against which drift is measured",
        "training_log": "Splink's training steps (EM sessions, λ estimate)", "model": "The trained model as Splink's JSON",
        "path": "The model's JSON file under target/splink/<entity>/"}),
    "entities._id_checks": TableDoc("entities._id_checks", "IBAN and VAT ID checks already made, so each value is checked once (emptied when the check rules or python-stdnum/schwifty change: entities._id_checks_version).",
                                    "value checked (kind, raw)", {
        "kind": "iban or vat_id", "raw": "The value as a source wrote it", "compact": "The value compacted (no spaces, upper case)",
        "valid": "Whether it passed the check (schwifty, python-stdnum)"}),
    "entities._id_checks_version": TableDoc("entities._id_checks_version", "What made the checks in entities._id_checks: Kontor's check rules and the python-stdnum and schwifty versions.",
                                            "one row", {"checks": "For example 'rules 2, python-stdnum 2.2, schwifty 2026.10.1'"}),
}


class EntityDoc(TableDoc):
    """A TableDoc that also describes the columns an entity's declaration names."""

    def __init__(self, relation: str, description: str, grain: str, attributes: dict[str, str]):
        super().__init__(relation, description, grain, {**COLUMNS, **attributes})

    def describe(self, column: str) -> str:
        if column in self.columns:
            return self.columns[column]
        for suffix, text in SUFFIXES:
            if column.endswith(suffix) and len(column) > len(suffix):
                base = self.describe(column[: -len(suffix)]) or column[: -len(suffix)]
                return text.format(base[:1].lower() + base[1:] if text.startswith(("First", "Second")) else base)
        for prefix, text in PREFIXES:
            if column.startswith(prefix) and len(column) > len(prefix):
                return text.format(column[len(prefix):])
        return ""


def entity_table_docs(entity: str, declared, descriptions: dict[str, str] | None = None) -> list[TableDoc]:
    """The docs of ``entities.<entity>_<part>`` for every part; ``declared``: the entity's declared
    attributes (None for the company schema); ``descriptions``: part -> the asset's description."""
    attributes = {a.name: f"Declared attribute {a.name} ({a.type}), standardised by its type" for a in declared or []}
    descriptions = {**DESCRIPTIONS, **{k: v for k, v in (descriptions or {}).items() if v}}
    return [EntityDoc(f"entities.{entity}_{part}", descriptions.get(part, ""), grain, attributes)
            for part, grain in GRAINS.items()]
