"""Run the entity engine on the independent company set and measure it against the truth.

The entity file is the shipped ``models/entities/customer.yml`` (its Splink settings, training,
thresholds, rules and survivorship as they are) with only ``inputs:`` and ``ground_truth:``
replaced by the generator's three systems, so what is measured is the shipped configuration; a
generator of another entity names its own file, inputs and columns (``faker_persons.py``).
The engine functions run as the assets run them: standardise, train, predict, cluster, resolve.

    python -m pipelines.entities.testdata.harness --companies 1500 --seed 1 --out /tmp/gen
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import yaml
from sqlglot import exp

from pipelines.engines.connection import Connection, connect
from pipelines.engines.engine import DuckDBEngine
from pipelines.entities import stage
from pipelines.entities.evaluate import evaluate, queue_figures
from pipelines.entities.spec import EntitySpec, load_entities
from pipelines.entities.testdata.companies import COLUMNS, generate
from pipelines.core.settings import load_settings
from pipelines.core.sql import render, template

REPO = Path(__file__).resolve().parents[3]
INPUTS = [
    {"system": "crm", "model": "gen_crm", "id": "crm_id",
     "columns": {"name": "firma", "street": "strasse_hnr", "postcode": "plz", "city": "ort", "country": "land",
                 "vat_id": "ust_id", "email": "email", "phone": "telefon", "updated_at": "geaendert"}},
    {"system": "erp", "model": "gen_erp", "id": "kunden_nr", "name_max_length": 40,
     "columns": {"name": "name1", "name_addition": "name2", "street": "strasse", "house_number": "hnr", "postcode": "plz",
                 "city": "ort", "country": "land", "vat_id": "ust_id", "iban": "iban", "updated_at": "geaendert",
                 "register_number": "handelsregister"}},
    {"system": "accounting", "model": "gen_accounting", "id": "konto", "name_cut_at": 30,
     "columns": {"name": "name", "street": "anschrift", "postcode": "plz", "city": "ort", "country": "land",
                 "vat_id": "ust_id", "iban": "iban", "email": "email", "phone": "telefon", "updated_at": "geaendert"}},
]


def project(work: Path, entity_file: Path | None = None, entity: str = "customer",
            inputs: list[dict[str, Any]] | None = None, columns: dict[str, list[str]] | None = None) -> EntitySpec:
    """A throw-away project holding an entity file (the shipped ``customer.yml`` unless given) with
    a generator's inputs (:data:`INPUTS` and the company columns unless given)."""
    models = work / "models" / "entities"
    models.mkdir(parents=True, exist_ok=True)
    (work / "pyproject.toml").write_text('[tool.kontor]\nname = "generated"\ndata_dir = "data"\ntarget_dir = "target"\n',
                                         encoding="utf-8")
    shutil.copy(REPO / "models" / "entities" / "_reference.yml", models / "_reference.yml")
    doc = yaml.safe_load((entity_file or REPO / "models" / "entities" / "customer.yml").read_text(encoding="utf-8"))
    doc.update(entity=entity, inputs=inputs or INPUTS,
               ground_truth={"entities": "ground_truth/entities.csv", "hard_negatives": "ground_truth/hard_negatives.csv"})
    (models / f"{entity}.yml").write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    settings = load_settings(work, env={})
    loaded = load_entities(settings, {f"gen_{s}": cols for s, cols in (columns or COLUMNS).items()})
    if loaded.problems:
        raise ValueError("\n".join(str(p) for p in loaded.problems))
    return loaded.entities[entity]


def load(con: Connection, data_dir: Path, columns: dict[str, list[str]] | None = None) -> dict[str, str]:
    con.execute("create schema if not exists raw")
    relations = {}
    for system in columns or COLUMNS:
        table = exp.Table(this=exp.to_identifier(f"gen_{system}", quoted=True), db=exp.to_identifier("raw"))
        con.execute(render(template(stage.__file__, "harness_load"), table=table), [str(data_dir / f"{system}.csv")])
        relations[f"gen_{system}"] = table.sql("duckdb")
    return relations


def run(data_dir: Path, work: Path, entity_file: Path | None = None, entity: str = "customer",
        inputs: list[dict[str, Any]] | None = None, columns: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Standardise, train, score and resolve a generated set with an entity file (:func:`project`),
    and measure the result against the set's ground truth."""
    spec = project(work, entity_file, entity, inputs, columns)
    con = connect(work / "warehouse.duckdb")
    started = time.perf_counter()
    try:
        relations = load(con, data_dir, columns)
        records = stage.standardise(con, spec, relations).rows
        splink = DuckDBEngine(con).splink()
        trained = stage.train(con, spec, splink, work / "splink", retrain=True)
        pairs = stage.score(con, spec, splink, trained.model).pairs
        stage.resolve(con, spec, splink, "harness")
        result = evaluate(con, spec, data_dir) or {}
        result.update(queue_figures(con, spec, data_dir))
        result.update(records=records, scored_pairs=pairs, seconds=round(time.perf_counter() - started, 1))
        if result.get("hard_negatives"):
            result["hard_negatives_merged_share"] = round(result["hard_negatives_merged"] / result["hard_negatives"], 4)
        return result
    finally:
        con.close()


def main(make=generate, companies: int = 1500, description: str = __doc__.splitlines()[0], unit: str = "companies",
         **entity: Any) -> None:
    """The command line of a generator (``make``: ``generate(out, <unit>=, seed=)``): a set
    written to ``--out``/data, run through the shipped configuration (or ``entity``: the
    arguments of :func:`run` after ``work``), the figures as JSON."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--" + unit, type=int, default=companies)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    counts = make(args.out / "data", **{unit: getattr(args, unit)}, seed=args.seed)
    print(json.dumps({"data": counts, **run(args.out / "data", args.out / "work", **entity)}, indent=1, default=str))


if __name__ == "__main__":
    main()
