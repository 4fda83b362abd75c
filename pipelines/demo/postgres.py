"""Put the demo ERP tables into PostgreSQL, for the Postgres-source path (``kontor demo-data --postgres``)."""
from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from sqlglot import exp

from pipelines.core.errors import KontorError

ERP_TABLES = ("customers", "suppliers", "items", "orders", "order_lines", "purchase_orders")


def load_erp_into_postgres(data_dir: Path, url: str, schema: str = "erp") -> dict[str, int]:
    """Replace ``<schema>.<table>`` for each demo ERP Parquet file; returns rows per table."""
    import adbc_driver_postgresql.dbapi as pg

    counts: dict[str, int] = {}
    try:
        with pg.connect(url) as conn:
            with conn.cursor() as cur:
                cur.execute(exp.Create(this=exp.to_identifier(schema, quoted=True), kind="SCHEMA", exists=True).sql("postgres"))
                for name in ERP_TABLES:
                    path = data_dir / "erp" / f"{name}.parquet"
                    if not path.is_file():
                        raise KontorError(f"{path}: not found; fix: run `kontor demo-data` first")
                    data = pq.read_table(path)
                    cur.execute(exp.Drop(tables=[exp.table_(name, db=schema, quoted=True)], kind="TABLE", exists=True).sql("postgres"))
                    cur.adbc_ingest(name, data, mode="create", db_schema_name=schema)
                    counts[name] = data.num_rows
            conn.commit()
    except KontorError:
        raise
    except Exception as exc:  # driver errors: connection refused, auth, permissions
        raise KontorError(f"loading demo ERP tables into PostgreSQL failed: {str(exc).splitlines()[0]}; "
                          "fix: check the URL and that the server runs") from exc
    return counts
