"""Where the load's time goes: each statement of ``include/sql/load_run.sql``, then ``keep_stage_outputs``, timed
on a database kept by ``bench_pipeline.py --keep`` (all in one transaction, rolled back: the database is left as it was; the reporting tables are vacuumed
before each measurement).

Two cases: ``re-load`` (the day is loaded already, as a re-run or backfill finds it) and ``first`` (the
run's reporting rows deleted first, inside the same transaction). ``--explain`` prints the plan of each
statement slower than 0.3 s; ``--compare OLD.sql`` also runs another version of the SQL (e.g. from
``git show REV:include/sql/load_run.sql``) and checks that both leave every reporting table with the same
rows (timestamps aside). The reporting.lsh_bands rows go in by the script's statement here; ``khabar.pipeline.load``
COPYs them (``khabar.dedup_stage.copy_run_bands``), which ``bench_load_first.py`` times.

    PYTHONPATH=plugins python benchmarks/bench_pipeline.py --keep --sizes 10000      # prints the database
    PYTHONPATH=plugins python benchmarks/bench_load_sql.py khabar_bench_1234abcd [--explain] [--compare old.sql]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import psycopg2

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "plugins"))
SERVER = os.environ.get("KHABAR_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
RUN_ID = "2022-01-25"
TIMESTAMPS = {"ingested_at", "quarantined_at", "loaded_at", "applied_at", "checked_at"}


def _forget_run(cur, params) -> None:
    """The run's reporting rows deleted, as before its first load (in the caller's transaction)."""
    for table in ("stripped_lines", "lsh_bands", "lsh_article_bands", "dedup_shingles"):
        cur.execute(f"delete from reporting.{table} where article_id in"
                    " (select article_id from reporting.articles where run_id = %(run_id)s)", params)
    for table in ("date_mentions", "dedup_decisions", "date_coverage", "duplicates", "quarantine", "files", "outlet_lines", "runs",
                  "stage_outputs"):
        cur.execute(f"delete from reporting.{table} where run_id = %(run_id)s", params)
    cur.execute("delete from reporting.stories")
    cur.execute("delete from reporting.story_merges")
    cur.execute("delete from reporting.articles where run_id = %(run_id)s", params)


def statements(sql: str) -> list[str]:
    return [s.strip() for s in re.split(r";\s*\n", re.sub(r"--[^\n]*", "", sql)) if s.strip()]


def snapshot(cur) -> dict[str, tuple]:
    """Row count and a digest of every reporting table's rows."""
    out = {}
    cur.execute("select table_name from information_schema.tables where table_schema = 'reporting'"
                " and table_type = 'BASE TABLE' order by 1")
    for (table,) in cur.fetchall():
        cur.execute("select column_name from information_schema.columns where table_schema = 'reporting'"
                    " and table_name = %s order by ordinal_position", (table,))
        cols = [c for (c,) in cur.fetchall() if c not in TIMESTAMPS]
        cur.execute(f"select count(*), md5(coalesce(string_agg(r, E'\\n' order by r), ''))"
                    f" from (select ({', '.join(cols)})::text as r from reporting.{table}) x")
        out[table] = cur.fetchone()
    return out


def vacuum(dsn: str) -> None:
    """Each measured load is rolled back, leaving dead rows and index entries behind (620k a load in
    ``reporting.lsh_bands``): vacuumed before every measurement so that each starts from the same state."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("select table_name from information_schema.tables where table_schema = 'reporting'"
                        " and table_type = 'BASE TABLE'")
            for (table,) in cur.fetchall():
                cur.execute(f"vacuum reporting.{table}")
    finally:
        conn.close()


def run(dsn: str, sql: str, first: bool, explain: bool, verbose: bool, keep: bool = True) -> tuple[float, dict]:
    from khabar.version import pipeline_version
    from khabar.warehouse import connect

    vacuum(dsn)
    params = {"run_id": RUN_ID, "airflow_run_id": None, "version": pipeline_version()}
    conn = connect(dsn)  # as the load's: its session settings (lz4) included
    try:
        cur = conn.cursor()
        if first:
            _forget_run(cur, params)
        total = 0.0
        for stmt in statements(sql):
            t = time.perf_counter()
            if explain and not stmt.startswith(("create temporary", "analyze")):
                cur.execute("explain (analyze, costs off) " + stmt, params)
                plan = "\n".join(r[0] for r in cur.fetchall())
            else:
                cur.execute(stmt, params)
                plan = ""
            took = time.perf_counter() - t
            total += took
            if verbose:
                print(f"   {took:7.2f}s  {' '.join(stmt.split())[:110]}")
                if plan and took > 0.3:
                    print("\n".join("            " + line for line in plan.splitlines()))
        if keep:  # the rest of khabar.pipeline.load's transaction
            from khabar.reprocess import keep_stage_outputs

            t = time.perf_counter()
            keep_stage_outputs(cur, RUN_ID)
            took = time.perf_counter() - t
            total += took
            if verbose:
                print(f"   {took:7.2f}s  khabar.reprocess.keep_stage_outputs (reporting.stage_outputs)")
        return total, snapshot(cur)
    finally:
        conn.rollback()
        conn.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("database")
    ap.add_argument("--explain", action="store_true")
    ap.add_argument("--compare", type=Path, help="another version of load_run.sql to run and compare")
    args = ap.parse_args()
    from urllib.parse import urlsplit, urlunsplit

    from khabar.pipeline import load_sql
    from khabar.warehouse import apply_migrations

    dsn = urlunsplit(urlsplit(SERVER)._replace(path=f"/{args.database}"))
    apply_migrations(dsn)  # a database kept before a new migration gets it
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for first in (True, False):
        label = "first load" if first else "re-load"
        print(f"== {label}: {Path('include/sql/load_run.sql')}")
        total, new = run(dsn, load_sql(), first, args.explain, verbose=True)
        print(f"   total {total:.2f}s")
        if args.compare:
            old_total, old = run(dsn, args.compare.read_text(encoding="utf-8"), first, False, verbose=False)
            same = [t for t in old if old[t] == new.get(t)]
            differ = [t for t in old if old[t] != new.get(t)]
            print(f"   {args.compare}: {old_total:.2f}s; same rows in {len(same)} tables, different in {differ or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
