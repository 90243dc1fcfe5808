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
    "articles", "stories", "quarantine", "duplicates", "files", "stripped_lines", "outlet_lines", "lsh_bands",
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
