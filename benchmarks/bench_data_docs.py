"""Cost of rendering Data Docs in a gate: the ingest gate on the five seeds, 20 checks with the site
off and 20 with it on (alternating blocks of 10), then 400 more results stored and 10 checks again.
Needs ../shared/seeds and PostgreSQL at 127.0.0.1:5432 (a scratch database, dropped afterwards)."""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import psycopg2

from khabar.gates import validate_stage
from khabar.pipeline import Run, run_stage

SEEDS = Path(os.environ.get("KHABAR_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared") / "seeds"
SERVER = "postgresql://postgres@127.0.0.1:5432"


def timed(dsn: str, run: Run, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        validate_stage(dsn, "ingest", run.run_id, run.day)
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    name = f"khabar_ddbench_{uuid.uuid4().hex[:6]}"
    admin = psycopg2.connect(f"{SERVER}/postgres")
    admin.autocommit = True
    admin.cursor().execute(f'create database "{name}"')
    dsn = f"{SERVER}/{name}"
    try:
        landing = Path(tempfile.mkdtemp())
        (landing / "2022-01-25").mkdir()
        for path in sorted(SEEDS.glob("*.txt")):
            shutil.copy(path, landing / "2022-01-25" / path.name)
        run = Run(day=date(2022, 1, 25), landing_root=landing, quarantine_dir=Path(tempfile.mkdtemp()))
        run_stage(dsn, "ingest", run)
        docs = tempfile.mkdtemp()
        os.environ["NEWS_DATA_DOCS_DIR"] = "off"
        timed(dsn, run, 1)  # imports
        times: dict[str, list[float]] = {"off": [], "docs": []}
        for mode in ("off", docs, "off", docs):
            os.environ["NEWS_DATA_DOCS_DIR"] = mode
            times["off" if mode == "off" else "docs"] += timed(dsn, run, 10)
        for key, values in times.items():
            print(f"{key}: median {statistics.median(values):.3f} s over {len(values)} checks")
        for _ in range(400):
            validate_stage(dsn, "ingest", run.run_id, run.day)
        late = timed(dsn, run, 10)
        stored = len(list(Path(docs, "_results").rglob("*.json")))
        limit = os.environ.get("NEWS_DATA_DOCS_INDEX_LIMIT") or "60 (default)"
        print(f"docs with {stored} stored results, index limit {limit}: median {statistics.median(late):.3f} s")
    finally:
        admin.cursor().execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", (name,))
        admin.cursor().execute(f'drop database "{name}"')


if __name__ == "__main__":
    main()
