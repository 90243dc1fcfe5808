"""Crashes and concurrency against a real PostgreSQL: a load that dies midway leaves the whole
previous state (or nothing), and its retry completes the run; a worker killed with SIGKILL inside
the load transaction likewise; two days run at once do not disturb each other; two runs of the
same day cannot run at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date

import psycopg2
import pytest

import khabar.pipeline as pipeline
from helpers import PROJECT, table_checksums
from khabar.gates import validate_stage
from khabar.pipeline import Run, run_day, run_stage
from khabar.warehouse import RunLocked, day_lock

pytestmark = pytest.mark.integration
DAYS = (date(2022, 2, 1), date(2022, 2, 2), date(2022, 2, 3))
WORDS = ["سد", "کرج", "آب", "ذخیره", "کاهش", "یافت", "باران", "پاییز", "کم", "بود", "مصرف", "تهران", "افزایش", "هشدار"]
MIDWAY = "insert into reporting.stripped_lines"  # after articles, before everything else of the load


def article(day: date, n: int) -> str:
    return f"گزارش {day.day}-{n}: " + " ".join(WORDS[(n * 3 + i) % len(WORDS)] + str(day.day * 1000 + n * 50 + i) for i in range(40))


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    root = tmp_path_factory.mktemp("landing")
    for day in DAYS:
        part = root / day.isoformat()
        part.mkdir()
        for n in range(6):
            (part / f"news_{n}.txt").write_text(article(day, n), encoding="utf-8")
        (part / "junk.txt").write_bytes(b"\x00\xff" * 64)
    return root


@pytest.fixture(scope="module")
def qdir(tmp_path_factory):
    return tmp_path_factory.mktemp("quarantine")


def query(dsn, sql, params=()):
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()




def rows_of(dsn, run_id: str) -> dict[str, int]:
    return {t: query(dsn, f"select count(*) from reporting.{t} where run_id = %s", (run_id,))[0][0]
            for t in ("articles", "quarantine", "files", "runs")}


def crashing_sql(statement: str):
    """The load SQL with ``statement`` run midway: after articles are written, before the rest."""
    sql = pipeline.load_sql()
    assert MIDWAY in sql
    return lambda: sql.replace(MIDWAY, f"{statement};\n{MIDWAY}", 1)


def prepare(dsn, run: Run) -> None:
    for stage in pipeline.STAGES[:-1]:
        run_stage(dsn, stage, run)


def test_a_first_load_that_dies_midway_leaves_nothing_and_the_retry_completes_it(fresh_db, landing, qdir, monkeypatch):
    run = Run(DAYS[0], landing, quarantine_dir=qdir)
    prepare(fresh_db, run)
    monkeypatch.setattr(pipeline, "load_sql", crashing_sql("select 1 / 0"))
    with pytest.raises(psycopg2.errors.DivisionByZero):
        run_stage(fresh_db, "load", run)
    assert rows_of(fresh_db, run.run_id) == {"articles": 0, "quarantine": 0, "files": 0, "runs": 0}
    monkeypatch.undo()
    result = run_stage(fresh_db, "load", run)  # the retry (Airflow's retries=2 does this)
    validate_stage(fresh_db, "load", run.run_id, run.day)
    assert rows_of(fresh_db, run.run_id) == {"articles": 6, "quarantine": 1, "files": 7, "runs": 1}
    assert result["files"] == result["files_loaded"] + result["files_quarantined"] + result["files_duplicate"] == 7


def test_a_reload_that_dies_midway_keeps_the_previous_load_whole(fresh_db, landing, qdir, monkeypatch):
    run = Run(DAYS[0], landing, quarantine_dir=qdir)
    before = table_checksums(fresh_db)
    extra = landing / DAYS[0].isoformat() / "late_arrival.txt"
    extra.write_text(article(DAYS[0], 99), encoding="utf-8")
    try:
        prepare(fresh_db, run)
        monkeypatch.setattr(pipeline, "load_sql", crashing_sql("select 1 / 0"))
        with pytest.raises(psycopg2.errors.DivisionByZero):
            run_stage(fresh_db, "load", run)
        assert table_checksums(fresh_db) == before  # not half of the new load: all of the old one
        monkeypatch.undo()
        run_stage(fresh_db, "load", run)
        assert rows_of(fresh_db, run.run_id)["articles"] == 7
    finally:
        extra.unlink()
    run_day(fresh_db, run)
    assert table_checksums(fresh_db) == before


KILLED_LOAD = """
import sys
import khabar.pipeline as pipeline
sql = pipeline.load_sql()
# Abort the query soon after the client vanishes, then sleep inside the load transaction until killed.
pipeline.load_sql = lambda: sql.replace({midway!r}, "set local client_connection_check_interval = 100; select pg_sleep(60);\\n" + {midway!r}, 1)
pipeline.run_stage(sys.argv[1], "load", pipeline.Run(pipeline.date.fromisoformat(sys.argv[2]), pipeline.Path(sys.argv[3])))
"""


def test_a_worker_killed_inside_the_load_transaction_leaves_nothing_and_releases_its_locks(fresh_db, landing, qdir):
    run = Run(DAYS[1], landing, quarantine_dir=qdir)
    prepare(fresh_db, run)
    env = {**os.environ, "PYTHONPATH": f"{PROJECT / 'plugins'}", "NEWS_QUARANTINE_DIR": str(qdir)}
    worker = subprocess.Popen(
        [sys.executable, "-c", KILLED_LOAD.format(midway=MIDWAY), fresh_db, run.run_id, str(landing)], env=env
    )
    try:
        for _ in range(300):  # wait until it sleeps inside the load, articles already written
            if query(fresh_db, "select count(*) from pg_stat_activity where wait_event = 'PgSleep' and datname = current_database()")[0][0]:
                break
            assert worker.poll() is None, "the worker ended before reaching the middle of the load"
            time.sleep(0.1)
        else:
            pytest.fail("the worker never reached the middle of the load")
        os.kill(worker.pid, signal.SIGKILL)  # the OOM killer, a lost node: no cleanup code runs
        worker.wait()
    finally:
        if worker.poll() is None:
            worker.kill()
    assert rows_of(fresh_db, run.run_id) == {"articles": 0, "quarantine": 0, "files": 0, "runs": 0}
    deadline = time.monotonic() + 20
    while True:  # the server notices the dead client and releases the day's lock
        try:
            run_stage(fresh_db, "load", run)
            break
        except RunLocked:
            assert time.monotonic() < deadline, "the killed worker's lock was never released"
            time.sleep(0.2)
    validate_stage(fresh_db, "load", run.run_id, run.day)
    assert rows_of(fresh_db, run.run_id)["articles"] == 6


def test_two_days_at_once_do_not_disturb_each_other(fresh_db, landing, qdir):
    runs = [Run(DAYS[1], landing, quarantine_dir=qdir), Run(DAYS[2], landing, quarantine_dir=qdir)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(runs))

    def go(run: Run) -> None:
        try:
            barrier.wait()
            run_day(fresh_db, run, gate=False)
        except BaseException as exc:  # collected: a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for run in runs:
        validate_stage(fresh_db, "load", run.run_id, run.day)
        assert rows_of(fresh_db, run.run_id) == {"articles": 6, "quarantine": 1, "files": 7, "runs": 1}
    concurrent = table_checksums(fresh_db)
    for run in runs:  # the same days one after the other give the very same rows
        run_day(fresh_db, run, gate=False)
    assert table_checksums(fresh_db) == concurrent


def test_a_second_run_of_the_same_day_is_refused_while_the_first_holds_the_lock(fresh_db, landing, qdir):
    run = Run(DAYS[2], landing, quarantine_dir=qdir)
    before = table_checksums(fresh_db)
    with day_lock(fresh_db, run.run_id):
        with pytest.raises(RunLocked, match=f"another run of day {run.run_id} is in progress"):
            run_stage(fresh_db, "ingest", run)
        with pytest.raises(RunLocked):
            run_day(fresh_db, run)
        run_stage(fresh_db, "ingest", Run(DAYS[0], landing, quarantine_dir=qdir))  # another day is free
    assert table_checksums(fresh_db) == before


def test_two_same_day_runs_started_together_one_runs_one_is_refused(fresh_db, landing, qdir):
    run = Run(DAYS[2], landing, quarantine_dir=qdir)
    outcomes: list[object] = []
    barrier = threading.Barrier(2)

    def go() -> None:
        barrier.wait()
        try:
            outcomes.append(run_day(fresh_db, run, gate=False))
        except RunLocked as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(type(o).__name__ for o in outcomes) == ["RunLocked", "dict"]
    assert rows_of(fresh_db, run.run_id) == {"articles": 6, "quarantine": 1, "files": 7, "runs": 1}


def empty_unlogged_tables(dsn) -> list[str]:
    """What PostgreSQL does to unlogged tables when it restarts after a crash: every one of them emptied."""
    tables = [f"{s}.{t}" for s, t in query(
        dsn, "select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
             " where c.relkind = 'r' and c.relpersistence = 'u' order by 1, 2")]
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(f"truncate {', '.join(tables)}")
    return tables


def test_a_server_crash_empties_staging_and_the_run_stops_with_a_clear_message(fresh_db, landing, qdir):
    """Staging is UNLOGGED (migration 014): after a crash of PostgreSQL the run's later tasks refuse to go on
    (they would load the day as empty, and a gate would pass on no rows) and say to re-run from ingest; the
    day loaded before stays whole."""
    run = Run(DAYS[0], landing, airflow_run_id="manual__crashed", quarantine_dir=qdir, batch_size=2)
    run_day(fresh_db, run, gate=False)
    loaded = table_checksums(fresh_db)
    batches = run_stage(fresh_db, "ingest", run)["batches"]
    run_stage(fresh_db, "strip", run, batches[0])
    emptied = empty_unlogged_tables(fresh_db)
    assert "staging.documents" in emptied and "staging.ingests" not in emptied and "staging.reprocess_before" not in emptied
    assert not any(t.startswith("reporting.") for t in emptied)
    for step in (lambda: run_stage(fresh_db, "strip", run, batches[1]), lambda: pipeline.run_finish(fresh_db, "strip", run),
                 lambda: run_stage(fresh_db, "load", run), lambda: pipeline.run_gate(fresh_db, "strip", run)):
        with pytest.raises(pipeline.StagingLost, match="re-run the day from ingest"):
            step()
    assert issubclass(pipeline.StagingLost, pipeline.RunSuperseded)  # news_ingest fails the task without retries
    assert table_checksums(fresh_db) == loaded
    run_day(fresh_db, run, gate=False)  # from ingest: whole again
    assert table_checksums(fresh_db) == loaded
