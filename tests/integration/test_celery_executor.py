"""news_ingest under the CeleryExecutor for real: scheduler, DAG processor, api-server (the task execution
API) and a Celery worker as separate processes, Redis as the broker, PostgreSQL as Airflow's metadata
database, a fresh warehouse. One day of include/sample_landing is triggered and must land complete.

Everything is private to the test so it can run beside another engineer's Airflow services: a tmp
AIRFLOW_HOME, a new metadata database ``airflow_celery_<hex>`` (dropped afterwards), Redis database
``KHABAR_CELERY_REDIS_DB`` (default 5; only that one is flushed), free ports, and a queue named for the
test so no other worker can take its tasks. Batches of three documents (``NEWS_BATCH_SIZE``), so strip,
normalize and date-tag run as several mapped task instances, each on the worker. Skipped when Redis does
not answer.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import psycopg2
import pytest

from helpers import PROJECT
from khabar.ingest import TEHRAN
from khabar.paths import SAMPLE_LANDING_DIR

pytestmark = pytest.mark.integration

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_DB = int(os.environ.get("KHABAR_CELERY_REDIS_DB", "5"))
DAY = "2022-01-25"
# The run for Tehran day D has logical date D 00:00 Asia/Tehran (the DAG's cron timetable).
LOGICAL_DATE = datetime(2022, 1, 25, tzinfo=TEHRAN).isoformat()
DEADLINE_S = 600
BATCH_SIZE = 3  # the day has 7 documents: batches 0, 1, 2
MAPPED = ("strip_boilerplate", "normalize_text", "tag_dates")
AIRFLOW = [sys.executable, "-m", "airflow"]


def _redis_answers() -> bool:
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _with_db(dsn: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


def _redis_flushdb() -> None:
    """FLUSHDB on our database number only (Redis' inline protocol: no client library needed)."""
    with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=5) as s:
        s.sendall(f"SELECT {REDIS_DB}\r\nFLUSHDB\r\n".encode())
        s.recv(64)


def _query(dsn: str, sql: str, params=()) -> list[tuple]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


class Services:
    """The Airflow processes, each in its own process group, with its output in a file."""

    def __init__(self, home: Path, env: dict[str, str]):
        self.home, self.env, self.procs = home, env, {}

    def start(self, name: str, *args: str) -> None:
        log = open(self.home / f"{name}.log", "wb")  # closed in stop(), after the process
        self.procs[name] = (
            subprocess.Popen([*AIRFLOW, *args], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True),
            log,
        )

    def alive(self) -> dict[str, int | None]:
        return {name: proc.poll() for name, (proc, _) in self.procs.items()}

    def log(self, name: str) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for proc, _ in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        end = time.monotonic() + 30
        for proc, log in self.procs.values():
            try:
                proc.wait(timeout=max(1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()

    def dump(self, tail: int = 120) -> str:
        out = []
        for name in self.procs:
            lines = self.log(name).splitlines()[-tail:]
            out.append(f"===== {name} (exit {self.alive()[name]}) =====\n" + "\n".join(lines))
        return "\n".join(out)


@pytest.fixture(scope="module")
def celery_stack(pg_server, fresh_db, tmp_path_factory, request):
    if not _redis_answers():
        pytest.skip(f"Redis does not answer at {REDIS_HOST}:{REDIS_PORT}")
    if not pg_server.startswith("postgresql://postgres@127.0.0.1:5432"):
        pytest.skip("needs the PostgreSQL at 127.0.0.1:5432 for Airflow's metadata database")

    home = tmp_path_factory.mktemp("airflow_celery")
    landing = home / "landing"
    shutil.copytree(SAMPLE_LANDING_DIR, landing)
    meta_name = f"airflow_celery_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(pg_server)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'create database "{meta_name}"')
    meta = _with_db(pg_server, meta_name)
    queue = f"khabar_test_{uuid.uuid4().hex[:8]}"
    api_port = _free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))
    } | {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta.replace("postgresql://", "postgresql+psycopg2://", 1),
        # Airflow derives an asyncpg URL for its async engine, and asyncpg is not among the requirements;
        # only the multi-team paths use that engine, so it gets a throwaway SQLite file instead.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": f"sqlite+aiosqlite:///{home / 'unused-async.db'}",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + meta.replace("postgresql://", "postgresql+psycopg2://", 1),
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
        # Parse once: a re-parse would recompute the next scheduled run that the test switches off below.
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "3600",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW_CONN_NEWS_WAREHOUSE": fresh_db,
        "NEWS_LANDING_DIR": str(landing),
        "NEWS_BATCH_SIZE": str(BATCH_SIZE),
        "NEWS_QUARANTINE_DIR": str(home / "quarantine"),
        "PYTHONPATH": os.pathsep.join([str(PROJECT / "plugins"), str(PROJECT / "dags")]),
        "GX_ANALYTICS_ENABLED": "false",
    }
    services = Services(home, env)
    try:
        _redis_flushdb()
        migrate = subprocess.run([*AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
        assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
        services.start("api-server", "api-server", "--apps", "execution", "--port", str(api_port), "--host", "127.0.0.1")
        services.start("dag-processor", "dag-processor")
        services.start("scheduler", "scheduler")
        services.start(
            "celery-worker", "celery", "worker", "--queues", queue, "--concurrency", "2", "--skip-serve-logs",
            "--without-gossip", "--without-mingle", "--celery-hostname", f"{queue}@%h",
        )
        yield services, env, meta, queue, fresh_db
    except BaseException:
        print(services.dump())
        raise
    finally:
        if request.session.testsfailed:
            print(services.dump())
        services.stop()
        _redis_flushdb()
        with admin.cursor() as cur:
            cur.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", (meta_name,))
            cur.execute(f'drop database if exists "{meta_name}"')
        admin.close()


def _wait(what: str, services: Services, probe, timeout: float, every: float = 2.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        dead = {name: rc for name, rc in services.alive().items() if rc is not None}
        assert not dead, f"service(s) exited while waiting for {what}: {dead}\n{services.dump()}"
        got = probe()
        if got:
            return got
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{services.dump()}")


@pytest.fixture(scope="module")
def celery_run(celery_stack):
    services, env, meta, queue, warehouse = celery_stack
    started = time.monotonic()
    _wait(
        "the DAG processor to serialize news_ingest", services,
        lambda: _query(meta, "select 1 from serialized_dag where dag_id = 'news_ingest'"), timeout=240,
    )
    run_id = f"celery_test__{DAY}"
    trig = subprocess.run(
        [*AIRFLOW, "dags", "trigger", "news_ingest", "--logical-date", LOGICAL_DATE, "--run-id", run_id],
        env=env, capture_output=True, text=True, timeout=180,
    )
    assert trig.returncode == 0, trig.stdout[-3000:] + trig.stderr[-3000:]
    # Unpause without letting the scheduler add today's scheduled run (catchup=False still creates the
    # latest interval's run; with max_active_runs=1 it would queue ahead of or behind ours).
    conn = psycopg2.connect(meta)
    with conn, conn.cursor() as cur:
        cur.execute("update dag set next_dagrun_create_after = null, is_paused = false where dag_id = 'news_ingest'")
    conn.close()

    def finished():
        rows = _query(meta, "select state from dag_run where dag_id = 'news_ingest' and run_id = %s", (run_id,))
        return rows and rows[0][0] in ("success", "failed") and rows[0][0]

    remaining = DEADLINE_S - (time.monotonic() - started)
    state = _wait("the triggered run to finish", services, finished, timeout=remaining, every=3)
    tis = _query(
        meta,
        "select task_id, state, queue, external_executor_id, hostname, try_number, map_index from task_instance"
        " where dag_id = 'news_ingest' and run_id = %s order by task_id, map_index",
        (run_id,),
    )
    return {"state": state, "tis": tis, "services": services, "queue": queue, "warehouse": warehouse}


def test_the_run_succeeds_on_the_celery_worker(celery_run):
    tis = celery_run["tis"]
    assert celery_run["state"] == "success", f"{tis}\n{celery_run['services'].dump()}"
    assert {ti[1] for ti in tis} == {"success"}, tis
    # Every task went through our private queue, which only the worker started above consumes, and
    # carries the Celery task id the executor gave it.
    assert {ti[2] for ti in tis} == {celery_run["queue"]}
    celery_ids = [ti[3] for ti in tis]
    assert all(celery_ids), tis
    worker_log = celery_run["services"].log("celery-worker")
    seen = [cid for cid in celery_ids if cid in worker_log]
    assert seen == celery_ids, f"Celery task ids missing from the worker's log: {set(celery_ids) - set(seen)}"


def test_the_mapped_batch_tasks_ran_on_the_worker(celery_run):
    tis = celery_run["tis"]
    (batches,) = _query(celery_run["warehouse"], "select batches from staging.ingests where run_id = %s", (DAY,))[0]
    assert batches == 3
    mapped = [ti for ti in tis if ti[6] >= 0]
    # one instance per batch of each per-document stage, every one a success taken from our queue by the worker
    assert sorted((ti[0], ti[6]) for ti in mapped) == [(task, b) for task in sorted(MAPPED) for b in range(batches)]
    assert {(ti[1], ti[2]) for ti in mapped} == {("success", celery_run["queue"])}
    worker_log = celery_run["services"].log("celery-worker")
    assert all(ti[3] and ti[3] in worker_log and ti[4] for ti in mapped), mapped
    # the rest are one instance each: 11 day-level tasks
    assert sorted(ti[0] for ti in tis if ti[6] < 0) == sorted(
        ("ingest_files", "validate_ingest", "learn_furniture", "validate_strip", "validate_normalize", "summarize_dates",
         "validate_date_tag", "deduplicate", "validate_dedup", "load_warehouse", "validate_load")
    )


def test_the_warehouse_is_complete(celery_run):
    dsn = celery_run["warehouse"]
    runs = _query(
        dsn,
        "select run_id, documents_seen, articles_loaded, duplicates, quarantined, airflow_run_id from reporting.runs",
    )
    assert len(runs) == 1, runs
    run_id, seen, articles, dups, quarantined, airflow_run_id = runs[0]
    assert run_id == DAY and airflow_run_id == f"celery_test__{DAY}"
    assert seen > 0 and articles > 0
    assert seen == articles + dups + quarantined  # conservation: every input is an article, a duplicate or quarantined
    (n_articles,) = _query(dsn, "select count(*) from reporting.articles where run_id = %s", (DAY,))[0]
    assert n_articles == articles
    gates = _query(dsn, "select stage, bool_and(success) from reporting.gate_results where run_id = %s group by 1", (DAY,))
    assert dict(gates) == {s: True for s in ("ingest", "strip", "normalize", "date_tag", "dedup", "load")}
    # every document went through its batch: stripped, normalized, date-tagged, each batch's share in place
    assert _query(dsn, "select count(*) from staging.documents where run_id = %s and batch_no is null", (DAY,)) == [(0,)]
    assert _query(
        dsn,
        "select count(*) from staging.documents where run_id = %s and status <> 'quarantined'"
        " and (strip_draft is null or body is null or date_source is null)",
        (DAY,),
    ) == [(0,)]
    per_batch = _query(dsn, "select batch_no, count(*) from staging.documents where run_id = %s group by 1 order by 1", (DAY,))
    (documents,) = _query(dsn, "select documents from staging.ingests where run_id = %s", (DAY,))[0]
    assert [b for b, _ in per_batch] == list(range(len(per_batch)))
    assert [n for _, n in per_batch][:-1] == [BATCH_SIZE] * (len(per_batch) - 1) and sum(n for _, n in per_batch) == documents
