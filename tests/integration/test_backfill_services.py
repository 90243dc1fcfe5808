"""A backfill of ``news_ingest`` through the real Airflow services, the way the UI makes one.

The api-server, scheduler and DAG processor run as subprocesses (LocalExecutor, a fresh PostgreSQL
metadata database, free ports); the test logs in through SimpleAuthManager's ``POST /auth/token``,
unpauses the DAG and calls ``POST /api/v2/backfills`` for the sample days 2022-01-25 and 2022-01-26
(Tehran midnights, as the UI's date pickers send them), waits for the backfill to complete, and checks
that each day's partition is in the warehouse exactly once. A second backfill of the same range, told
to re-run completed days, must leave every reporting table identical (``table_checksums``).

``news_ingest`` has ``catchup=False``: Airflow 3 backfills ignore it. The scheduler's own cron runs
are switched off (``use_job_schedule=False``) so that unpausing the DAG does not also start a run for
yesterday, which would add a day the test did not ask for.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from helpers import PROJECT, table_checksums

pytestmark = [pytest.mark.integration, pytest.mark.dags]

DAG_ID = "news_ingest"
DAYS = [date(2022, 1, 25), date(2022, 1, 26)]
TEHRAN = ZoneInfo("Asia/Tehran")
WAIT_S = 600  # every wait is bounded; a backfill of two days takes about a minute here
SERVICES = ("api-server", "scheduler", "dag-processor")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"({path}: {exc})"


class Stack:
    """The running services, their logs, and an authenticated REST client."""

    def __init__(self, home: Path, base_url: str, env: dict[str, str], user: str, password: str):
        self.home, self.base_url, self.env = home, base_url, env
        self.user, self.password = user, password
        self.procs: dict[str, subprocess.Popen] = {}
        self.token: str | None = None

    def start(self, name: str, *args: str) -> None:
        with open(self.home / f"{name}.log", "wb") as log:  # the child keeps its own descriptor
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "airflow", name, *args], env=self.env, cwd=PROJECT,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,  # its own group: killed whole
            )

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def logs(self) -> str:
        parts = [f"===== {name} =====\n{_tail(self.home / f'{name}.log')}" for name in self.procs]
        # The task logs of anything that failed or is retrying say why a run did not succeed.
        for path in sorted((self.home / "logs").rglob("*.log"))[-6:]:
            text = path.read_text(errors="replace")
            if "error" in text.lower():
                parts.append(f"===== {path.relative_to(self.home)} =====\n{_tail(path, 40)}")
        return "\n".join(parts)

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"airflow {name} exited with {proc.returncode}\n{self.logs()}")

    def request(self, method: str, path: str, body: dict | None = None, auth: bool = True):
        import httpx

        headers = {"Authorization": f"Bearer {self.token}"} if auth else {}
        return httpx.request(method, self.base_url + path, json=body, headers=headers, timeout=30)

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        resp = self.request(method, path, body)
        if resp.status_code >= 300:
            raise AssertionError(f"{method} {path} -> {resp.status_code}: {resp.text}\n{self.logs()}")
        return resp.json()

    def wait(self, what: str, probe, timeout: float = WAIT_S, every: float = 2.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                result = probe()
            except Exception:  # the server is not up yet, or a transient connection error
                result = None
            if result:
                return result
            time.sleep(every)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{self.logs()}")


def _create_db(admin_dsn: str, name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'create database "{name}"')
    conn.close()


def _drop_db(admin_dsn: str, name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", (name,))
        cur.execute(f'drop database if exists "{name}"')
    conn.close()


@pytest.fixture(scope="module")
def stack(pg_server, fresh_db, tmp_path_factory):
    """api-server + scheduler + dag-processor on a PostgreSQL metadata database, stopped afterwards."""
    from urllib.parse import urlsplit, urlunsplit

    home = tmp_path_factory.mktemp("airflow_home")
    landing = home / "landing"
    for day in DAYS:  # only the two partitions: the sample's loose file is dated by its checkout time
        shutil.copytree(PROJECT / "include" / "sample_landing" / day.isoformat(), landing / day.isoformat())
    meta_db = f"airflow_it_{uuid.uuid4().hex[:10]}"
    _create_db(pg_server, meta_db)
    meta = urlsplit(pg_server)._replace(scheme="postgresql+psycopg2", path=f"/{meta_db}")
    port = _free_port()
    user, password = "khabar", secrets.token_urlsafe(12)
    (home / "passwords.json").write_text(json.dumps({user: password}))
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": urlunsplit(meta),
        # No async driver (asyncpg) is installed: an empty async URI turns the async engine off; only
        # multi-team look-ups and the "wait for a run" endpoint use it, none of them here.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": "",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{user}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),  # the same secret in every service
        # Another engineer's scheduler may hold the default log-server ports on this machine.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW_CONN_NEWS_WAREHOUSE": fresh_db,
        "NEWS_LANDING_DIR": str(landing),
        "NEWS_QUARANTINE_DIR": str(home / "quarantine"),
        "PYTHONPATH": os.pathsep.join([str(PROJECT / "plugins"), str(PROJECT / "dags")]),
        "GX_ANALYTICS_ENABLED": "false",
    }
    stack = Stack(home, f"http://127.0.0.1:{port}", env, user, password)
    try:
        migrate = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, cwd=PROJECT,
                                 capture_output=True, text=True, timeout=WAIT_S)
        assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
        stack.start("api-server", "--port", str(port), "--host", "127.0.0.1")
        stack.start("scheduler")
        stack.start("dag-processor")
        stack.wait("the api-server", lambda: stack.request("GET", "/api/v2/monitor/health", auth=False).status_code == 200)
        yield stack
    finally:
        stack.stop()
        print(stack.logs())  # shown by pytest when a test of this module failed
        _drop_db(pg_server, meta_db)


def _login(stack: Stack) -> str:
    resp = stack.request("POST", "/auth/token", {"username": stack.user, "password": stack.password}, auth=False)
    assert resp.status_code == 201, resp.text
    return resp.json()["access_token"]


def _backfill_body(reprocess: str) -> dict:
    # What the UI's backfill form sends: the first and last logical dates, here Tehran midnights.
    return {
        "dag_id": DAG_ID,
        "from_date": datetime(2022, 1, 25, tzinfo=TEHRAN).isoformat(),
        "to_date": datetime(2022, 1, 26, tzinfo=TEHRAN).isoformat(),
        "reprocess_behavior": reprocess,
        # One day at a time, as the DAG's max_active_runs=1 says: run side by side, two days' dedup
        # stages each see the other half-loaded, and a later re-run can then group stories differently.
        "max_active_runs": 1,
    }


def _run_backfill(stack: Stack, reprocess: str) -> tuple[dict, list[dict]]:
    backfill = stack.api("POST", "/api/v2/backfills", _backfill_body(reprocess))
    done = stack.wait(
        f"backfill {backfill['id']} to complete",
        lambda: (b := stack.api("GET", f"/api/v2/backfills/{backfill['id']}"))["completed_at"] and b,
        every=5,
    )
    runs = stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns?run_type=backfill&order_by=logical_date")["dag_runs"]
    return done, [r for r in runs if r.get("backfill_id") in (None, backfill["id"])]


def _warehouse(dsn: str, sql: str) -> list[tuple]:
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def first_backfill(stack, fresh_db):
    stack.token = _login(stack)
    stack.wait("the DAG processor to parse news_ingest",
               lambda: stack.request("GET", f"/api/v2/dags/{DAG_ID}").status_code == 200)
    # Backfill runs of a paused DAG stay queued: unpause it, as the UI's backfill form offers to.
    stack.api("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
    dry = stack.api("POST", "/api/v2/backfills/dry_run", _backfill_body("none"))
    backfill, runs = _run_backfill(stack, "none")
    return dry, backfill, runs, table_checksums(fresh_db)


def test_the_api_refuses_a_backfill_without_a_token(stack):
    resp = stack.request("POST", "/api/v2/backfills", _backfill_body("none"), auth=False)
    assert resp.status_code in (401, 403), resp.text


def test_the_range_is_the_two_tehran_days(first_backfill):
    dry, *_ = first_backfill
    days = [datetime.fromisoformat(b["logical_date"]).astimezone(TEHRAN).date() for b in dry["backfills"]]
    assert days == DAYS


def test_every_backfilled_run_succeeded(first_backfill, stack):
    _, backfill, runs, _ = first_backfill
    assert backfill["completed_at"] is not None
    states = {datetime.fromisoformat(r["logical_date"]).astimezone(TEHRAN).date(): r["state"] for r in runs}
    assert states == dict.fromkeys(DAYS, "success"), stack.logs()


def test_each_day_is_in_the_warehouse_exactly_once(first_backfill, fresh_db):
    _, _, runs, sums = first_backfill
    rows = _warehouse(fresh_db, "select run_id, airflow_run_id from reporting.runs order by run_id")
    assert [r[0] for r in rows] == [d.isoformat() for d in DAYS]
    assert {r[1] for r in rows} == {r["dag_run_id"] for r in runs}  # loaded by these backfill runs
    # Every file of each partition has exactly one outcome, recorded under its own day.
    for day in DAYS:
        on_disk = sorted(
            p.relative_to(PROJECT / "include" / "sample_landing").as_posix()
            for p in (PROJECT / "include" / "sample_landing" / day.isoformat()).rglob("*") if p.is_file()
        )
        loaded = _warehouse(fresh_db, f"select source_path from reporting.files where run_id = '{day}' order by 1")
        assert sorted(r[0] for r in loaded) == on_disk
    per_day = dict(_warehouse(fresh_db, "select run_id, count(*) from reporting.articles group by 1"))
    assert set(per_day) == {d.isoformat() for d in DAYS} and all(n > 0 for n in per_day.values())
    dupes = _warehouse(fresh_db, "select source_path, record_index from reporting.articles group by 1, 2 having count(*) > 1")
    assert dupes == []
    assert sums["runs_rows"] == len(DAYS)


def test_a_second_backfill_of_the_range_changes_nothing(first_backfill, stack, fresh_db):
    *_, before = first_backfill
    loaded_before = dict(_warehouse(fresh_db, "select run_id, loaded_at from reporting.runs"))
    backfill, runs = _run_backfill(stack, "completed")  # re-run the days that already succeeded
    assert backfill["completed_at"] is not None
    assert sorted(r["state"] for r in runs) == ["success", "success"], stack.logs()
    loaded_after = dict(_warehouse(fresh_db, "select run_id, loaded_at from reporting.runs"))
    assert all(loaded_after[d] > loaded_before[d] for d in loaded_before)  # the days really were loaded again
    assert table_checksums(fresh_db) == before
