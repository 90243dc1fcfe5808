"""A day's first load, statement by statement, as the pipeline runs it on a fresh warehouse: wall time and the
PostgreSQL backend's CPU (read from /proc: the server must run on this machine) of each statement of
``include/sql/load_run.sql`` (its reporting.lsh_bands rows by ``copy_run_bands``, as ``khabar.pipeline.load`` writes
them; ``--no-copy``: by the script's statement) and of ``keep_stage_outputs``, committed, then the reporting
tables' digests.

From a database kept by ``bench_pipeline.py --keep`` a template is made once (its reporting tables emptied
but for schema_migrations and gate_results, staging as dedup left it); each repetition loads into a fresh copy
of it (``create database ... template``) and drops the copy. (``bench_load_sql.py``'s first load deletes the
day's rows in the same transaction, so its inserts meet the deleted rows' index entries.)

    PYTHONPATH=plugins python benchmarks/bench_pipeline.py --keep --sizes 10000      # prints the database
    PYTHONPATH=plugins python benchmarks/bench_load_first.py khabar_bench_1234abcd [--repeat 3] [--sql OTHER.sql]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "plugins"))
sys.path.insert(0, str(PROJECT / "benchmarks"))
from bench_gates_sql import backend_cpu  # noqa: E402
from bench_load_sql import RUN_ID, snapshot, statements  # noqa: E402

SERVER = os.environ.get("KHABAR_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def with_db(name: str) -> str:
    return urlunsplit(urlsplit(SERVER)._replace(path=f"/{name}"))


def make_template(admin, source: str) -> str:
    name = f"khabar_bench_tpl_{uuid.uuid4().hex[:6]}"
    admin.cursor().execute(f'create database "{name}" template "{source}"')
    conn = psycopg2.connect(with_db(name))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("select table_name from information_schema.tables where table_schema = 'reporting'"
                    " and table_type = 'BASE TABLE' and table_name not in ('schema_migrations', 'gate_results')")
        tables = [t for (t,) in cur.fetchall()]
        cur.execute(f"truncate {', '.join('reporting.' + t for t in tables)}")
        cur.execute("vacuum analyze")
        cur.execute("checkpoint")
    conn.close()
    return name


def one_load(admin, template: str, sql: str, copy: bool = True) -> tuple[list[tuple[float, float, str]], dict]:
    from khabar.dedup_stage import copy_run_bands
    from khabar.pipeline import split_load_sql
    from khabar.reprocess import keep_stage_outputs
    from khabar.version import pipeline_version
    from khabar.warehouse import apply_migrations, connect

    name = f"khabar_bench_{uuid.uuid4().hex[:8]}"
    admin.cursor().execute(f'create database "{name}" template "{template}"')
    try:
        dsn = with_db(name)
        apply_migrations(dsn)
        admin.cursor().execute("checkpoint")
        conn = connect(dsn)
        params = {"run_id": RUN_ID, "airflow_run_id": "bench", "version": pipeline_version()}
        out = []
        with conn, conn.cursor() as cur:
            cur.execute("select pg_backend_pid()")
            (pid,) = cur.fetchone()
            before, band_rows, after = split_load_sql(sql) if copy else (sql, None, "")
            steps = [*statements(before), *(["copy_run_bands"] if band_rows else []), *statements(after), None]
            for stmt in steps:
                t, c = time.perf_counter(), backend_cpu(pid)
                if stmt is None:
                    keep_stage_outputs(cur, RUN_ID)
                    stmt = "khabar.reprocess.keep_stage_outputs"
                elif stmt == "copy_run_bands":
                    if not copy_run_bands(cur, RUN_ID):
                        cur.execute(band_rows, params)
                    stmt = "khabar.dedup_stage.copy_run_bands (reporting.lsh_bands)"
                else:
                    cur.execute(stmt, params)
                out.append((time.perf_counter() - t, backend_cpu(pid) - c, " ".join(stmt.split())[:100]))
            t, c = time.perf_counter(), backend_cpu(pid)
        out.append((time.perf_counter() - t, backend_cpu(pid) - c, "commit"))
        with conn.cursor() as cur:
            digest = snapshot(cur)
        conn.close()
        return out, digest
    finally:
        admin.cursor().execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", (name,))
        admin.cursor().execute(f'drop database if exists "{name}"')


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("database")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sql", type=Path, help="another version of load_run.sql (default: the project's)")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--no-copy", action="store_true",
                    help="insert reporting.lsh_bands with the script's statement, not khabar.dedup_stage.copy_run_bands")
    args = ap.parse_args()
    from khabar.pipeline import load_sql

    sql = args.sql.read_text(encoding="utf-8") if args.sql else load_sql()
    admin = psycopg2.connect(SERVER)
    admin.autocommit = True
    template = make_template(admin, args.database)
    try:
        runs, digests = [], []
        for _ in range(args.repeat):
            rows, digest = one_load(admin, template, sql, not args.no_copy)
            runs.append(rows)
            digests.append(digest)
        print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; {args.repeat} first loads")
        walls = [sum(r[0] for r in rows) for rows in runs]
        cpus = [sum(r[1] for r in rows) for rows in runs]
        print(f"   total wall {' '.join(f'{w:.2f}' for w in walls)} s; backend CPU {' '.join(f'{c:.2f}' for c in cpus)} s")
        by_stmt = sorted(range(len(runs[0])), key=lambda i: -min(r[i][1] for r in runs))
        for i in by_stmt[: args.top]:
            w = [r[i][0] for r in runs]
            c = [r[i][1] for r in runs]
            print(f"   wall {min(w):5.2f}-{max(w):5.2f}  cpu {min(c):5.2f}-{max(c):5.2f}  {runs[0][i][2]}")
        same = all(d == digests[0] for d in digests)
        print(f"   reporting digests equal across repetitions: {same}")
        for table, (n, md5) in digests[0].items():
            print(f"   {table:<24}{n:>10}  {md5}")
    finally:
        admin.cursor().execute(f'drop database if exists "{template}"')
        admin.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
