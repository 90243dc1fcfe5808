"""Batches: the same generated landing zone through the pipeline as one whole-day task per stage, and as
news_ingest runs it in batches (per-batch tasks of strip, normalize and date-tag, then their finish), with
1 worker (the batches one after another) and with W workers (the batches of a stage shared by W processes,
as W Celery workers would). Library calls only (``run_stage``, ``run_finish``, ``run_gate``), no Airflow
start-up; the landing zone comes from ``benchmarks/bench_pipeline.py`` (``write_landing``).

    PYTHONPATH=plugins python benchmarks/bench_batches.py --sizes 1000 10000 [--batch-size 1000] [--workers 2] [--airflow]

Prints seconds per mode: ingest, the three batch stages (batches + finish), dedup + load, gates, total.
``--airflow`` also times ``airflow dags test news_ingest`` (every task in one process, one after another) with
one batch for the day and with ``--batch-size``: what the mapped task instances cost in Airflow itself.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "plugins"))
sys.path.insert(0, str(PROJECT / "benchmarks"))

from bench_pipeline import DAY, SERVER, with_db, write_landing  # noqa: E402


def _batch(args: tuple) -> None:
    from khabar.pipeline import run_stage

    dsn, stage, run, batch = args
    run_stage(dsn, stage, run, batch)


def one_mode(landing: Path, mode: str, batch_size: int, workers: int) -> dict:
    """One fresh database, the whole pipeline in ``mode`` (whole | batches); seconds per part."""
    import psycopg2

    from khabar.pipeline import BATCH_STAGES, FINISH_FUNCTIONS, STAGES, Run, run_finish, run_gate, run_stage

    name = f"khabar_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(SERVER)
    admin.autocommit = True
    admin.cursor().execute(f'create database "{name}"')
    dsn = with_db(SERVER, name)
    run = Run(DAY, landing, airflow_run_id="bench", quarantine_dir=landing.parent / f"q_{name}", batch_size=batch_size)
    times: dict[str, float] = {"gates": 0.0}
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) if mode == "batches" and workers > 1 else None
    try:
        start = time.perf_counter()
        batches: list[int] = []
        for stage in STAGES:
            t = time.perf_counter()
            if stage == "ingest":
                batches = run_stage(dsn, stage, run)["batches"]
            elif mode == "batches" and stage in BATCH_STAGES:
                jobs = [(dsn, stage, run, b) for b in batches]
                if pool:
                    list(pool.map(_batch, jobs))
                else:
                    for job in jobs:
                        _batch(job)
                if stage in FINISH_FUNCTIONS:
                    run_finish(dsn, stage, run)
            else:
                run_stage(dsn, stage, run)
            times[stage] = time.perf_counter() - t
            t = time.perf_counter()
            run_gate(dsn, stage, run)
            times["gates"] += time.perf_counter() - t
        times["total"] = time.perf_counter() - start
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("select documents_seen, articles_loaded from reporting.runs")
            times["documents"], times["articles"] = cur.fetchone()
        times["batches"] = len(batches)
        return times
    finally:
        if pool:
            pool.shutdown()
        admin.cursor().execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", (name,))
        admin.cursor().execute(f'drop database if exists "{name}"')
        admin.close()


def airflow_test(landing: Path, batch_size: int) -> tuple[float, bool, int]:
    """``airflow dags test news_ingest`` on a fresh database: wall seconds (start-up included), success, batches."""
    import os
    import subprocess

    import psycopg2

    name = f"khabar_bench_{uuid.uuid4().hex[:8]}"
    home = landing.parent / f"airflow_{name}"
    admin = psycopg2.connect(SERVER)
    admin.autocommit = True
    admin.cursor().execute(f'create database "{name}"')
    try:
        env = os.environ | {
            "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT / "plugins"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_CONN_NEWS_WAREHOUSE": with_db(SERVER, name), "NEWS_LANDING_DIR": str(landing),
            "NEWS_QUARANTINE_DIR": str(home / "quarantine"), "GX_ANALYTICS_ENABLED": "false",
            "NEWS_BATCH_SIZE": str(batch_size), "NEWS_DATA_DOCS_DIR": "off",
            "PYTHONPATH": os.pathsep.join([str(PROJECT / "plugins"), str(PROJECT / "dags")]),
        }
        airflow = [sys.executable, "-m", "airflow"]
        subprocess.run([*airflow, "db", "migrate"], env=env, check=True, capture_output=True)
        t = time.perf_counter()
        out = subprocess.run([*airflow, "dags", "test", "news_ingest", DAY.isoformat()], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t
        log = out.stdout + out.stderr
        with psycopg2.connect(with_db(SERVER, name)) as conn, conn.cursor() as cur:
            cur.execute("select batches from staging.ingests")
            (batches,) = cur.fetchone()
        return wall, out.returncode == 0 and "state=success" in log, batches
    finally:
        shutil.rmtree(home, ignore_errors=True)
        admin.cursor().execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", (name,))
        admin.cursor().execute(f'drop database if exists "{name}"')
        admin.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000])
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--mix", choices=["txt", "html", "json", "mixed"], default="mixed")
    ap.add_argument("--airflow", action="store_true", help="also time `airflow dags test` with 1 batch and with --batch-size")
    args = ap.parse_args()
    cols = ("ingest", "strip", "normalize", "date_tag", "dedup", "load", "gates", "total")
    print(f"| documents | mode | batches | {' | '.join(cols)} | docs/s |")
    print("|---:|---|---:|" + "---:|" * (len(cols) + 1))
    warm = Path(tempfile.mkdtemp(prefix="khabar_bench_warm_"))
    try:  # imports, hazm's tables, GX: paid once here, not by whichever mode runs first (workers fork warm)
        write_landing(warm / "landing", 40, args.mix)
        one_mode(warm / "landing", "whole", args.batch_size, 1)
    finally:
        shutil.rmtree(warm, ignore_errors=True)
    for n in args.sizes:
        tmp = Path(tempfile.mkdtemp(prefix="khabar_bench_batches_"))
        try:
            write_landing(tmp / "landing", n, args.mix)
            modes = [("whole", "whole day, 1 process", 1),
                     ("batches", f"batches of {args.batch_size}, 1 worker", 1),
                     ("batches", f"batches of {args.batch_size}, {args.workers} workers", args.workers)]
            for mode, label, workers in modes:
                t = one_mode(tmp / "landing", mode, args.batch_size, workers)
                print(f"| {t['documents']:,} | {label} | {t['batches'] if mode == 'batches' else '-'} | "
                      + " | ".join(f"{t[c]:.1f}" for c in cols) + f" | {t['documents'] / t['total']:.0f} |", flush=True)
            if args.airflow:
                for size in (10 * n, args.batch_size):
                    wall, ok, batches = airflow_test(tmp / "landing", size)
                    print(f"| {n:,} | `airflow dags test`, {batches} batch(es) of {min(size, n)} | {batches} |"
                          + " |" * (len(cols) - 1) + f" {wall:.1f} ({'success' if ok else 'FAILED'}) | {n / wall:.0f} |",
                          flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
