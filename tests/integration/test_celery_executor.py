"""news_ingest under the CeleryExecutor for real: scheduler, DAG processor, api-server (the task execution
API) and a Celery worker as separate processes, Redis as the broker, PostgreSQL as Airflow's metadata
database, a fresh warehouse. One day of include/sample_landing is triggered and must land complete.

Everything is private to the test so it can run beside another engineer's Airflow services: a tmp
AIRFLOW_HOME, a new metadata database ``airflow_celery_<hex>`` (dropped afterwards), Redis database
``KHABAR_CELERY_REDIS_DB`` (default 5; only that one is flushed), free ports, and a queue named for the
test so no other worker can take its tasks. Batches of three documents (``NEWS_BATCH_SIZE``), so strip,
normalize, date-tag and dedup's fingerprinting run as several mapped task instances, each on the worker. Skipped when Redis does
not answer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from datetime import datetime

import psycopg2
import pytest

from khabar.ingest import TEHRAN
from khabar.paths import SAMPLE_LANDING_DIR
from live_services import AIRFLOW, Services, airflow_env, create_db, drop_db, free_port, redis_answers, redis_flushdb
from live_services import query as _query

pytestmark = pytest.mark.integration

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_DB = int(os.environ.get("KHABAR_CELERY_REDIS_DB", "5"))
DAY = "2022-01-25"
# The run for Tehran day D has logical date D 00:00 Asia/Tehran (the DAG's cron timetable).
LOGICAL_DATE = datetime(2022, 1, 25, tzinfo=TEHRAN).isoformat()
DEADLINE_S = 600
BATCH_SIZE = 3  # the day has 7 documents: batches 0, 1, 2
MAPPED = ("strip_boilerplate", "normalize_text", "tag_dates", "fingerprint_batch")


def _redis_answers() -> bool:
    return redis_answers(REDIS_HOST, REDIS_PORT)


def _redis_flushdb() -> None:
    redis_flushdb(REDIS_HOST, REDIS_PORT, REDIS_DB)


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
    meta = create_db(pg_server, meta_name)
    queue = f"khabar_test_{uuid.uuid4().hex[:8]}"
    api_port = free_port()
    env = airflow_env(
        home, meta, api_port, fresh_db, landing,
        AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__API_AUTH__JWT_SECRET=uuid.uuid4().hex,
        # Airflow derives an asyncpg URL for its async engine, and asyncpg is not among the requirements;
        # only the multi-team paths use that engine, so it gets a throwaway SQLite file instead.
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC=f"sqlite+aiosqlite:///{home / 'unused-async.db'}",
        AIRFLOW__CELERY__BROKER_URL=f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
        AIRFLOW__CELERY__RESULT_BACKEND="db+" + meta.replace("postgresql://", "postgresql+psycopg2://", 1),
        AIRFLOW__CELERY__WORKER_CONCURRENCY="2",
        AIRFLOW__OPERATORS__DEFAULT_QUEUE=queue,
        # Parse once: a re-parse would recompute the next scheduled run that the test switches off below.
        AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="3600",
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="3600",
        NEWS_BATCH_SIZE=str(BATCH_SIZE),
        # as in docker-compose.yaml: the worker preloads Great Expectations and the stages' code
        AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS="khabar.celery_config.CELERY_CONFIG",
    )
    services = Services(home, env)
    try:
        _redis_flushdb()
        services.migrate(timeout=300)
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
        drop_db(pg_server, meta_name)


@pytest.fixture(scope="module")
def celery_run(celery_stack):
    services, env, meta, queue, warehouse = celery_stack
    started = time.monotonic()
    services.wait(
        "the DAG processor to serialize news_ingest",
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
    state = services.wait("the triggered run to finish", finished, timeout=remaining, every=3)
    tis = _query(
        meta,
        "select task_id, state, queue, external_executor_id, hostname, try_number, map_index from task_instance"
        " where dag_id = 'news_ingest' and run_id = %s order by task_id, map_index",
        (run_id,),
    )
    return {"state": state, "tis": tis, "services": services, "queue": queue, "warehouse": warehouse, "home": env["AIRFLOW_HOME"]}


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
        " and (stripped_text is null or body is null or date_source is null)",
        (DAY,),
    ) == [(0,)]
    per_batch = _query(dsn, "select batch_no, count(*) from staging.documents where run_id = %s group by 1 order by 1", (DAY,))
    (documents,) = _query(dsn, "select documents from staging.ingests where run_id = %s", (DAY,))[0]
    assert [b for b, _ in per_batch] == list(range(len(per_batch)))
    assert [n for _, n in per_batch][:-1] == [BATCH_SIZE] * (len(per_batch) - 1) and sum(n for _, n in per_batch) == documents


def test_the_worker_preloads_great_expectations_for_the_gate_tasks(celery_run):
    """khabar.celery_config makes the worker import khabar.worker_preload at its start; every gate task, a
    process the worker forks, then finds Great Expectations loaded instead of importing it (seconds each)."""
    from pathlib import Path

    services = celery_run["services"]
    worker_log = services.log("celery-worker")
    assert "khabar.worker_preload: Great Expectations, the normalizer and the stages' code loaded in" in worker_log
    assert "supervisors wait for their task's exit: yes" in worker_log  # khabar.supervisor_patch in place
    # only the worker loads it: plugins/.airflowignore keeps Airflow's plugin loader out of the library
    assert not [name for name in ("scheduler", "dag-processor", "api-server") if "khabar.worker_preload" in services.log(name)]
    gates = [ti[0] for ti in celery_run["tis"] if ti[0].startswith("validate_")]
    assert len(gates) == 6
    logs = {
        task: "\n".join(p.read_text(errors="replace") for p in Path(celery_run["home"]).glob(f"logs/**/task_id={task}/**/*.log"))
        for task in gates
    }
    assert all("Great Expectations preloaded" in text for text in logs.values()), {t: text[-2000:] for t, text in logs.items()}
    assert not any("Great Expectations imported by this gate" in text for text in logs.values())
