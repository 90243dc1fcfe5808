"""Paths and markers shared by the test modules."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
# KHABAR_SHARED_DIR points a git worktree (not a sibling of ../shared) at the shared data.
SHARED = Path(os.environ.get("KHABAR_SHARED_DIR") or PROJECT.parent / "shared")
SEEDS = SHARED / "seeds"
CORPUS = SHARED / "corpus"


def needs_shared(path: Path = SHARED):
    """Skip when ../shared (or a part of it) is absent: a user's fresh clone."""
    return pytest.mark.skipif(not path.is_dir(), reason=f"{path} is absent (a fresh clone without ../shared)")


# Every reporting table a run writes; gate_results is a log and grows on every run.
DATA_TABLES = (
    "articles", "stories", "quarantine", "duplicates", "files", "stripped_lines", "outlet_lines", "lsh_bands", "lsh_article_bands",
    "dedup_shingles", "dedup_decisions", "story_merges", "date_mentions", "date_coverage", "calendar", "runs",
)


def table_checksums(dsn: str, tables: tuple[str, ...] = DATA_TABLES) -> dict[str, str]:
    """A digest of every row of each reporting table (``ingested_at`` and ``quarantined_at`` included;
    ``runs.loaded_at`` left out: it is the time of the last load), and each table's row count."""
    import psycopg2

    out: dict[str, str] = {}
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            for table in tables:
                expr = "(to_jsonb(t) - 'loaded_at')::text" if table == "runs" else "t::text"
                cur.execute(f"select {expr} from reporting.{table} t order by 1")
                rows = [r[0] for r in cur.fetchall()]
                out[table] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
                out[f"{table}_rows"] = len(rows)
    finally:
        conn.close()
    return out


def write_landing(root: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: text}`` under ``root`` (UTF-8, folders made); returns ``root``."""
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def query(dsn: str, sql: str, params=None) -> list[tuple]:
    """The rows of one statement, in a transaction of its own."""
    import psycopg2

    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else []


def load_sample_days(dsn: str, tmp_path_factory, days) -> str:
    """The sample landing zone's ``days`` run through the whole pipeline from a copy of it, which is then
    deleted (re-processing must not need it); returns ``dsn``."""
    import shutil

    from khabar.paths import SAMPLE_LANDING_DIR
    from khabar.pipeline import Run, run_day

    landing = tmp_path_factory.mktemp("landing") / "sample"
    shutil.copytree(SAMPLE_LANDING_DIR, landing)
    for day in days:
        run_day(dsn, Run(day, landing, quarantine_dir=tmp_path_factory.mktemp("quarantine")))
    shutil.rmtree(landing)
    return dsn


def stage_sample_day(dsn: str, tmp_path_factory, day, stages: tuple[str, ...]) -> str:
    """One sample day (a copy of its landing folder) through ``stages`` only, each as one whole-day call,
    after the migrations; returns ``dsn``."""
    import shutil

    from khabar.paths import SAMPLE_LANDING_DIR
    from khabar.pipeline import STAGE_FUNCTIONS, Run
    from khabar.warehouse import apply_migrations

    landing = tmp_path_factory.mktemp("landing")
    shutil.copytree(SAMPLE_LANDING_DIR / day.isoformat(), landing / day.isoformat())
    apply_migrations(dsn)
    run = Run(day, landing)
    for stage in stages:
        STAGE_FUNCTIONS[stage](dsn, run)
    return dsn
