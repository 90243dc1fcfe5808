"""A backfill of ``news_ingest`` through the real Airflow services, the way the UI makes one.

The api-server, scheduler and DAG processor run as subprocesses (LocalExecutor, a fresh PostgreSQL
metadata database, free ports); the test logs in through SimpleAuthManager's ``POST /auth/token``,
unpauses the DAG and calls ``POST /api/v2/backfills`` for the sample days 2022-01-25 and 2022-01-26
(Tehran midnights, as the UI's date pickers send them), waits for the backfill to complete, and checks
that each day's partition is in the warehouse exactly once. A second backfill of the same range, told
to re-run completed days, must leave every reporting table identical (``table_checksums``).

``news_ingest`` has ``catchup=False``: Airflow 3 backfills ignore it. Its next scheduled run is switched
off in the metadata database before it is unpaused (and the DAG processor parses once), so that the
scheduler does not also start a run for yesterday, a day the test did not ask for; the scheduler's job
schedule stays on, because it is also what turns asset events into runs.

The same services then show the rest of the README's path: the grid the UI draws after the backfill
(``/ui/grid/runs``, the endpoint the grid reads), the ``news_reporting`` runs the loads' asset events
trigger (run type ``asset_triggered``) with the reporting views holding both days, and, where Chromium
is installed, ``scripts/screenshot_grid.py`` against the running UI.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import uuid
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from helpers import PROJECT, table_checksums
from live_services import Services, airflow_env, create_db, drop_db, free_port

pytestmark = [pytest.mark.integration, pytest.mark.dags]

DAG_ID = "news_ingest"
DAYS = [date(2022, 1, 25), date(2022, 1, 26)]
TEHRAN = ZoneInfo("Asia/Tehran")
WAIT_S = 600  # every wait is bounded; a backfill of two days takes about a minute here


class Stack(Services):
    """The running services and an authenticated REST client."""

    def __init__(self, home: Path, env: dict[str, str], meta: str, base_url: str, user: str, password: str):
        super().__init__(home, env)
        self.meta, self.base_url, self.user, self.password = meta, base_url, user, password
        self.token: str | None = None

    def request(self, method: str, path: str, body: dict | None = None, auth: bool = True):
        import httpx

        headers = {"Authorization": f"Bearer {self.token}"} if auth else {}
        return httpx.request(method, self.base_url + path, json=body, headers=headers, timeout=30)

    def api(self, method: str, path: str, body: dict | None = None):
        resp = self.request(method, path, body)
        if resp.status_code >= 300:
            raise AssertionError(f"{method} {path} -> {resp.status_code}: {resp.text}\n{self.dump()}")
        return resp.json()


@pytest.fixture(scope="module")
def stack(pg_server, fresh_db, tmp_path_factory):
    """api-server + scheduler + dag-processor on a PostgreSQL metadata database, stopped afterwards."""
    home = tmp_path_factory.mktemp("airflow_home")
    landing = home / "landing"
    for day in DAYS:  # only the two partitions: the sample's loose file is dated by its checkout time
        shutil.copytree(PROJECT / "include" / "sample_landing" / day.isoformat(), landing / day.isoformat())
    meta_db = f"airflow_it_{uuid.uuid4().hex[:10]}"
    meta = create_db(pg_server, meta_db)
    port = free_port()
    user, password = "khabar", secrets.token_urlsafe(12)
    (home / "passwords.json").write_text(json.dumps({user: password}))
    env = airflow_env(
        home, meta, port, fresh_db, landing,
        # No async driver (asyncpg) is installed: an empty async URI turns the async engine off; only
        # multi-team look-ups and the "wait for a run" endpoint use it, none of them here.
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC="",
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__PARALLELISM="2",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{user}:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(home / "passwords.json"),
        AIRFLOW__API__SECRET_KEY=secrets.token_hex(16),
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_hex(32),  # the same secret in every service
        # Parse once: a re-parse would recompute news_ingest's next scheduled run, which the test switches
        # off (see _switch_on) so that the scheduler creates only backfill runs and asset-triggered ones.
        AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="3600",
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="3600",
    )
    stack = Stack(home, env, meta, f"http://127.0.0.1:{port}", user, password)
    try:
        stack.migrate()
        stack.start("api-server", "api-server", "--port", str(port), "--host", "127.0.0.1")
        stack.start("scheduler")
        stack.start("dag-processor")
        stack.wait("the api-server", lambda: stack.request("GET", "/api/v2/monitor/health", auth=False).status_code == 200)
        yield stack
    finally:
        stack.stop()
        print(stack.dump())  # shown by pytest when a test of this module failed
        drop_db(pg_server, meta_db)


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


def _switch_off_the_schedule(stack: Stack, dag_id: str) -> None:
    """No next scheduled run: unpaused, the DAG gets backfill runs only (catchup=False would still
    start the latest interval, yesterday)."""
    import psycopg2

    conn = psycopg2.connect(stack.meta)
    with conn, conn.cursor() as cur:
        cur.execute("update dag set next_dagrun_create_after = null where dag_id = %s", (dag_id,))
    conn.close()


@pytest.fixture(scope="module")
def first_backfill(stack, fresh_db):
    stack.token = _login(stack)
    for dag_id in (DAG_ID, "news_reporting"):
        stack.wait(f"the DAG processor to parse {dag_id}",
                   lambda dag_id=dag_id: stack.request("GET", f"/api/v2/dags/{dag_id}").status_code == 200)
    _switch_off_the_schedule(stack, DAG_ID)
    # news_reporting runs on the asset news_ingest's loads publish: switched on, it follows the backfill.
    stack.api("PATCH", "/api/v2/dags/news_reporting", {"is_paused": False})
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
    assert states == dict.fromkeys(DAYS, "success"), stack.dump()


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
    assert sorted(r["state"] for r in runs) == ["success", "success"], stack.dump()
    loaded_after = dict(_warehouse(fresh_db, "select run_id, loaded_at from reporting.runs"))
    assert all(loaded_after[d] > loaded_before[d] for d in loaded_before)  # the days really were loaded again
    assert table_checksums(fresh_db) == before


def test_the_grid_shows_one_successful_column_per_day(first_backfill, stack):
    """What the UI's grid draws after the backfill: the same endpoints its page calls."""
    _, _, runs, _ = first_backfill
    grid = stack.api("GET", f"/ui/grid/runs/{DAG_ID}?order_by=logical_date&run_type=backfill")
    columns = {r["run_id"]: r for r in grid}
    assert {r["dag_run_id"] for r in runs} <= set(columns)
    for run in runs:
        column = columns[run["dag_run_id"]]
        assert column["state"] == "success" and column["run_type"] == "backfill", column
    structure = stack.api("GET", f"/ui/grid/structure/{DAG_ID}")
    rows = [node["id"] for node in structure]
    assert rows[0] == "ingest_files" and "validate_load" in rows, rows


def _reporting_runs(stack: Stack) -> list[dict]:
    return stack.api("GET", "/api/v2/dags/news_reporting/dagRuns?order_by=run_after")["dag_runs"]


def test_the_loads_trigger_news_reporting(first_backfill, stack, fresh_db):
    """Data-aware scheduling under the real scheduler: validate_load's asset events start news_reporting."""
    def refreshed_both_days():
        runs = _reporting_runs(stack)
        if not runs or any(r["state"] not in ("success", "failed") for r in runs):
            return None
        days = [d[0] for d in _warehouse(fresh_db, "select run_id from reporting.run_quality order by 1")]
        return days == [d.isoformat() for d in DAYS] and runs

    runs = stack.wait("news_reporting to refresh after both loads", refreshed_both_days, every=5)
    assert {r["run_type"] for r in runs} == {"asset_triggered"}, runs
    assert {r["state"] for r in runs} == {"success"}, stack.dump()
    events = stack.api("GET", "/api/v2/assets/events?order_by=timestamp")["asset_events"]
    assert {e["extra"]["run_id"] for e in events if e["source_dag_id"] == DAG_ID} == {d.isoformat() for d in DAYS}
    # The views hold the two days: volume by Jalali day, and the reporting gate passed for them.
    volume = _warehouse(fresh_db, "select distinct jalali_date from reporting.daily_volume where day between '2022-01-25' and '2022-01-26'")
    assert volume, "daily_volume holds no article of the backfilled days"
    gates = _warehouse(fresh_db, "select run_id, success from reporting.gate_results where stage = 'reporting'")
    assert gates and all(ok for _, ok in gates), gates
    # The README's last step: the Jalali-month report, run as its line is written, on this warehouse.
    month = _readme_report(fresh_db).splitlines()
    assert month[0].split("\t")[:4] == ["jalali_year", "jalali_month", "jalali_month_name", "outlet"], month
    assert ("1400", "11", "بهمن") in {tuple(line.split("\t")[:3]) for line in month[1:]}, month  # 2022-01-25 is 5 Bahman 1400


def _readme_report(warehouse: str) -> str:
    """The README's command for the Jalali-month report (``python -m khabar.reporting "select …"``), run."""
    import os
    import re
    import shlex

    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    (line,) = re.findall(r"`(PYTHONPATH=plugins \S+ -m khabar\.reporting \"select jalali_year[^`]*)`", readme)
    argv = shlex.split(line)
    assert argv[:2] == ["PYTHONPATH=plugins", ".venv/bin/python"], argv
    env = {**os.environ, "PYTHONPATH": str(PROJECT / "plugins"), "AIRFLOW_CONN_NEWS_WAREHOUSE": warehouse}
    done = subprocess.run([sys.executable, *argv[2:]], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_screenshot_script_draws_the_grid(first_backfill, stack, tmp_path):
    import runpy

    if runpy.run_path(str(PROJECT / "scripts" / "screenshot_grid.py"))["find_browser"]() is None:
        pytest.skip("no Chromium on this machine (scripts/screenshot_grid.py needs one)")
    out = tmp_path / "grid.png"
    done = subprocess.run(
        [sys.executable, str(PROJECT / "scripts" / "screenshot_grid.py"), "--url", stack.base_url, "--user", stack.user,
         "--password", stack.password, "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
