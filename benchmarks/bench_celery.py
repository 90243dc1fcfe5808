"""What Airflow costs under the CeleryExecutor: news_ingest on a generated landing zone of N documents (the
same one ``bench_pipeline.py`` writes), run by a scheduler, DAG processor, api-server and one Celery worker
of ``--concurrency`` slots against Redis (127.0.0.1:6379) and a PostgreSQL metadata database, as the
production stack runs it. Needs Redis and the PostgreSQL at 127.0.0.1:5432; every database it creates is
named ``khabar_bench_*`` and dropped afterwards, and it uses Redis database ``--redis-db`` (flushed).

Before the measured day it runs an empty day (``--no-warm-up`` skips it): the services' first requests and
imports (the api-server's first request took 3.4 s) are one-off start-up, not the pipeline's. It then prints
the measured run's wall time from its first task's start to its last task's end, the time inside the task
instances (their durations, summed over the worker's slots), how long instances waited between being queued
and starting, each service's CPU during the run and over 10 s with nothing to run, and each task's timeline:
when it was queued, started and ended, and the gap since the task before it ended (the scheduler's part, then
the worker's). ``--in-process`` also times the same stages and gates in this process (bench_pipeline's
one-process mode) for comparison; ``--setting AIRFLOW__SECTION__KEY=VALUE`` tries an Airflow setting on every
service; ``--logs DIR`` keeps the services' and tasks' logs. ``--days K`` measures a backfill instead: the same
landing zone in K day folders, K runs triggered at once (news_ingest runs one day at a time, ``max_active_runs=1``,
so K - 1 of them wait queued), timed from the first task's start to the last one's end, with the services' CPU.

    PYTHONPATH=plugins python benchmarks/bench_celery.py --sizes 10000 [--mix txt|html|mixed] [--concurrency 2]
        [--batch-size 2500] [--in-process] [--setting KEY=VALUE ...] [--logs DIR] [--days K]
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import psycopg2

PROJECT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(PROJECT / "plugins"), str(PROJECT / "tests"), str(PROJECT / "benchmarks")]

from bench_pipeline import DAY, SERVER, SHARED, write_landing  # noqa: E402

from khabar.ingest import TEHRAN  # noqa: E402
from khabar.pipeline import DEFAULT_BATCH_SIZE  # noqa: E402
from live_services import (  # noqa: E402
    AIRFLOW,
    Services,
    airflow_env,
    create_db,
    drop_db,
    free_port,
    redis_answers,
    redis_flushdb,
)
from live_services import query as _query  # noqa: E402

REDIS = ("127.0.0.1", 6379)
IDLE_SECONDS = 10.0


def _tree_cpu(pid: int) -> float:
    """CPU seconds of a service: its process and every descendant alive now, each with its reaped children
    (a Celery worker's task processes are reaped by its pool processes)."""
    import psutil

    total = 0.0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def celery_run(landing: Path, concurrency: int, batch_size: int, redis_db: int, timeout: float,
               logs: Path | None = None, warm_up: bool = True, settings: dict[str, str] | None = None,
               days: int = 1) -> dict:
    home = Path(tempfile.mkdtemp(prefix="khabar_bench_celery_"))
    tag = uuid.uuid4().hex[:8]
    meta_name, warehouse_name = f"khabar_bench_meta_{tag}", f"khabar_bench_{tag}"
    meta, warehouse = create_db(SERVER, meta_name), create_db(SERVER, warehouse_name)
    queue, api_port = f"khabar_bench_{tag}", free_port()
    env = airflow_env(
        home, meta, api_port, warehouse, landing,
        AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__API_AUTH__JWT_SECRET=uuid.uuid4().hex,
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC=f"sqlite+aiosqlite:///{home / 'unused-async.db'}",
        AIRFLOW__CELERY__BROKER_URL=f"redis://{REDIS[0]}:{REDIS[1]}/{redis_db}",
        AIRFLOW__CELERY__RESULT_BACKEND="db+" + meta.replace("postgresql://", "postgresql+psycopg2://", 1),
        AIRFLOW__CELERY__WORKER_CONCURRENCY=str(concurrency),
        AIRFLOW__CORE__PARALLELISM=str(max(32, concurrency)),
        AIRFLOW__OPERATORS__DEFAULT_QUEUE=queue,
        AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="3600",
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="3600",
        AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS="khabar.celery_config.CELERY_CONFIG",
        NEWS_BATCH_SIZE=str(batch_size),
        NEWS_DATA_DOCS_DIR=str(home / "data_docs"),
        **(settings or {}),
    )
    services = Services(home, env)
    try:
        redis_flushdb(*REDIS, redis_db)
        services.migrate(timeout=300)
        services.start("api-server", "api-server", "--apps", "execution", "--port", str(api_port), "--host", "127.0.0.1")
        services.start("dag-processor", "dag-processor")
        services.start("scheduler", "scheduler")
        services.start(
            "celery-worker", "celery", "worker", "--queues", queue, "--concurrency", str(concurrency), "--skip-serve-logs",
            "--without-gossip", "--without-mingle", "--celery-hostname", f"{queue}@%h",
        )
        services.wait("news_ingest to be parsed", lambda: _query(meta, "select 1 from serialized_dag where dag_id = 'news_ingest'"),
                      timeout=300)
        conn = psycopg2.connect(meta)
        with conn, conn.cursor() as cur:  # unpaused without scheduled runs of its own beside ours
            cur.execute("update dag set next_dagrun_create_after = null, is_paused = false where dag_id = 'news_ingest'")
        conn.close()

        def trigger(day) -> str:
            run_id = f"bench__{day.isoformat()}"
            logical = datetime(day.year, day.month, day.day, tzinfo=TEHRAN).isoformat()
            subprocess.run([*AIRFLOW, "dags", "trigger", "news_ingest", "--logical-date", logical, "--run-id", run_id],
                           env=env, capture_output=True, text=True, timeout=180, check=True)
            return run_id

        def wait(run_id: str) -> str:
            def finished():
                rows = _query(meta, "select state from dag_run where dag_id = 'news_ingest' and run_id = %s", (run_id,))
                return rows and rows[0][0] in ("success", "failed") and rows[0][0]

            return services.wait(f"run {run_id} to finish", finished, timeout=timeout, every=0.5)

        def run(day) -> tuple[str, str]:
            run_id = trigger(day)
            return run_id, wait(run_id)

        warmup = None
        if warm_up:  # an empty day first: the api-server's, scheduler's and worker's first requests and imports
            day = DAY - timedelta(days=1)
            (landing / day.isoformat()).mkdir(parents=True, exist_ok=True)
            warm_id, warm_state = run(day)
            warmup = (warm_state, *_query(meta, "select extract(epoch from max(end_date) - min(start_date)), count(*)"
                                          " from task_instance where run_id = %s", (warm_id,))[0])
        idle_from = {name: _tree_cpu(proc.pid) for name, proc in services.procs.items()}
        time.sleep(IDLE_SECONDS)  # what the services cost with nothing to run
        cpu_before = {name: _tree_cpu(proc.pid) for name, proc in services.procs.items()}
        idle = {name: cpu_before[name] - idle_from[name] for name in cpu_before}
        if days > 1:  # a backfill: every day triggered before any has finished, then all awaited
            run_ids = [trigger(DAY + timedelta(days=k)) for k in range(days)]
            states = [wait(r) for r in run_ids]
            cpu = {name: _tree_cpu(proc.pid) - cpu_before[name] for name, proc in services.procs.items()}
            spans = _query(meta, "select run_id, extract(epoch from min(start_date)), extract(epoch from max(end_date)),"
                                 " count(*) from task_instance where dag_id = 'news_ingest' and run_id = any(%s)"
                                 " group by run_id order by 2", (run_ids,))
            counts = _query(warehouse, "select run_id, documents_seen, articles_loaded, duplicates from reporting.runs"
                                       " order by run_id")
            return {"states": states, "spans": spans, "runs": counts, "warmup": warmup, "cpu": cpu, "idle": idle}
        run_id, state = run(DAY)
        cpu = {name: _tree_cpu(proc.pid) - cpu_before[name] for name, proc in services.procs.items()}
        tis = _query(
            meta,
            "select task_id, map_index, state, extract(epoch from queued_dttm), extract(epoch from start_date),"
            " extract(epoch from end_date), duration from task_instance where dag_id = 'news_ingest' and run_id = %s"
            " order by start_date",
            (run_id,),
        )
        counts = _query(warehouse, "select documents_seen, articles_loaded, duplicates, quarantined from reporting.runs"
                                   " where airflow_run_id = %s", (run_id,))
        return {"state": state, "tis": tis, "runs": counts, "warmup": warmup, "cpu": cpu, "idle": idle}
    except BaseException:
        print(services.dump(), file=sys.stderr)
        raise
    finally:
        services.stop()
        if logs is not None:  # the services' logs and the task logs, for a look at where the time went
            shutil.copytree(home, logs, dirs_exist_ok=True, ignore=shutil.ignore_patterns("data_docs", "quarantine"))
        redis_flushdb(*REDIS, redis_db)
        drop_db(SERVER, meta_name)
        drop_db(SERVER, warehouse_name)
        shutil.rmtree(home, ignore_errors=True)


def in_process(landing: Path, n: int, batch_size: int) -> float:
    """bench_pipeline's one-process run of the same landing zone: the stages and gates, batch by batch."""
    out = subprocess.run(
        [sys.executable, str(PROJECT / "benchmarks" / "bench_pipeline.py"), "--one", str(n), "--landing", str(landing),
         "--workers", "1", "--batch-size", str(batch_size)],
        stdout=subprocess.PIPE, text=True, check=True, env=os.environ | {"NEWS_BATCH_SIZE": str(batch_size)},
    )
    import json

    res = json.loads(out.stdout.strip().splitlines()[-1])
    return sum(r["seconds"] + r["gate_seconds"] for r in res["stages"])


def report_backfill(n: int, res: dict, concurrency: int, batch_size: int) -> None:
    """``--days``: the backfill's wall time, each day's, and the gaps between one day's end and the next one's start."""
    spans = res["spans"]
    first, last = min(float(s[1]) for s in spans), max(float(s[2]) for s in spans)
    print(f"\n== backfill of {len(spans)} days of {n} documents, batches of {batch_size}, one Celery worker of"
          f" {concurrency} slots: runs {', '.join(sorted(set(res['states'])))}; warehouse (run, seen, articles,"
          f" duplicates) {res['runs']}")
    print(f"   first start to last end {last - first:.1f}s = {len(spans) * n / (last - first):.0f} docs/s; "
          + "; ".join(f"{float(s[2]) - float(s[1]):.1f}s ({s[3]} instances)" for s in spans))
    gaps = [float(b[1]) - float(a[2]) for a, b in itertools.pairwise(spans)]
    if gaps:
        print(f"   between a day's last task and the next day's first: {sum(gaps):.1f}s in all, mean {sum(gaps) / len(gaps):.2f}s")
    _report_cpu(res, last - first, "the backfill")


def _report_cpu(res: dict, wall: float, what: str) -> None:
    """The services' CPU during ``what`` (``wall`` seconds) and, before it, with nothing to run."""
    print(f"   CPU during {what}: " + ", ".join(f"{name} {sec:.1f}s" for name, sec in res["cpu"].items())
          + f" (from the trigger to its end; {os.cpu_count()} cores x {wall:.1f}s = {os.cpu_count() * wall:.0f} CPU-seconds)")
    print(f"   CPU in {IDLE_SECONDS:.0f}s with nothing to run, before it: "
          + ", ".join(f"{name} {sec:.2f}s" for name, sec in res["idle"].items()))


def report(n: int, res: dict, concurrency: int, batch_size: int, local: float | None, counts: dict) -> None:
    tis = res["tis"]
    first = min(t[4] for t in tis)
    last = max(t[5] for t in tis)
    wall = float(last - first)
    inside = sum(float(t[6] or 0) for t in tis)
    waits = [float(t[4] - t[3]) for t in tis if t[3] is not None]
    formats = ", ".join(f"{kind} {count}" for kind, count in counts.items() if count)
    print(f"\n== {n} documents ({formats}), batches of {batch_size}, one Celery worker of {concurrency} slots: run {res['state']},"
          f" warehouse (seen, articles, duplicates, quarantined) {res['runs']}")
    print(f"   {len(tis)} task instances; first start to last end {wall:.1f}s = {n / wall:.0f} docs/s;"
          f" inside the instances {inside:.1f}s (summed over slots)")
    print(f"   queued -> started: mean {sum(waits) / len(waits):.2f}s, max {max(waits):.2f}s;"
          f" slots idle or in Airflow outside the instances: {concurrency * wall - inside:.1f} of {concurrency * wall:.1f} slot-seconds")
    if res["warmup"]:
        print(f"   before it, a warm-up run of an empty day (the services' first requests): {res['warmup'][0]},"
              f" {res['warmup'][2]} instances, {float(res['warmup'][1] or 0):.1f}s first start to last end")
    _report_cpu(res, wall, "the run")
    if local is not None:
        print(f"   the same stages and gates in one process, one after another: {local:.1f}s")
    by_task: dict[str, list[tuple]] = {}
    for t in tis:
        by_task.setdefault(t[0], []).append(t)
    print(f"     {'task':<22}{'inside':>8} {'queued':>7} {'start':>7} {'end':>7}  (seconds from the first start;"
          " gap: previous task's end to this one's queuing, then to its start)")
    previous_end, gaps = None, 0.0
    for task, rows in sorted(by_task.items(), key=lambda kv: min(r[4] for r in kv[1])):
        durations = [float(r[6] or 0) for r in rows]
        queued = min(float(r[3] - first) for r in rows if r[3] is not None)
        start, end = min(float(r[4] - first) for r in rows), max(float(r[5] - first) for r in rows)
        extra = f" ({len(rows)} instances, mean {sum(durations) / len(durations):.2f}s)" if len(rows) > 1 else ""
        gap = f"  gap {queued - previous_end:.2f} + {start - queued:.2f}s" if previous_end is not None else ""
        print(f"     {task:<22}{sum(durations):>8.2f} {queued:>7.1f} {start:>7.1f} {end:>7.1f}{gap}{extra}")
        if previous_end is not None:
            gaps += start - previous_end
        previous_end = end
    print(f"     between the tasks (no slot busy with this run): {gaps:.1f}s of the {wall:.1f}s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10000])
    ap.add_argument("--mix", choices=["txt", "html", "mixed"], default="mixed", help="the landing zone's formats")
    ap.add_argument("--concurrency", type=int, default=2, help="the Celery worker's slots")
    ap.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    ap.add_argument("--redis-db", type=int, default=6, help="Redis database for the broker (flushed before and after)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds the run may take")
    ap.add_argument("--logs", type=Path, help="copy the services' and tasks' logs into this directory (one per size)")
    ap.add_argument("--no-warm-up", action="store_true", help="measure the services' first run (no empty day before it)")
    ap.add_argument("--setting", action="append", default=[], metavar="AIRFLOW__SECTION__KEY=VALUE",
                    help="an Airflow setting for every service (repeatable), e.g. to try scheduler settings")
    ap.add_argument("--in-process", action="store_true", help="also time the stages and gates in one process")
    ap.add_argument("--days", type=int, default=1, help="a backfill of this many days (the same zone in each), triggered at once")
    args = ap.parse_args()
    if not (SHARED / "corpus").is_dir():
        print(f"{SHARED / 'corpus'} is absent (KHABAR_SHARED_DIR points at ../shared)", file=sys.stderr)
        return 2
    if not redis_answers(*REDIS):
        print(f"Redis does not answer at {REDIS[0]}:{REDIS[1]}", file=sys.stderr)
        return 2
    print(f"{datetime.now():%Y-%m-%d %H:%M} bench_celery, {os.cpu_count()} CPUs, load average"
          f" {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for n in args.sizes:
        tmp = Path(tempfile.mkdtemp(prefix="khabar_bench_zone_"))
        try:
            counts = write_landing(tmp / "landing", n, args.mix)
            for k in range(1, args.days):  # the backfill's other days: the same files in their own day folders
                shutil.copytree(tmp / "landing" / DAY.isoformat(), tmp / "landing" / (DAY + timedelta(days=k)).isoformat())
            res = celery_run(tmp / "landing", args.concurrency, args.batch_size, args.redis_db, args.timeout,
                             args.logs / str(n) if args.logs else None, not args.no_warm_up,
                             dict(kv.split("=", 1) for kv in args.setting), args.days)
            local = in_process(tmp / "landing", n, args.batch_size) if args.in_process and args.days == 1 else None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if args.days > 1:
            report_backfill(n, res, args.concurrency, args.batch_size)
        else:
            report(n, res, args.concurrency, args.batch_size, local, counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
