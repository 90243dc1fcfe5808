"""Real Airflow services for the integration tests: each service a subprocess in its own process group,
its output in a file under a private AIRFLOW_HOME, a private metadata database, free ports, and bounded
waits that fail with the services' logs. Used by test_backfill_services.py and test_celery_executor.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import PROJECT

AIRFLOW = [sys.executable, "-m", "airflow"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_db(dsn: str, name: str) -> str:
    """The same server's DSN for database ``name``."""
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


def create_db(admin_dsn: str, name: str) -> str:
    """Create database ``name`` (the caller drops it with ``drop_db``) and return its DSN."""
    import psycopg2

    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'create database "{name}"')
    conn.close()
    return with_db(admin_dsn, name)


def drop_db(admin_dsn: str, name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", (name,))
        cur.execute(f'drop database if exists "{name}"')
    conn.close()


def query(dsn: str, sql: str, params=()) -> list[tuple]:
    """Rows of one statement on a connection of its own (the services' metadata database, a warehouse)."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def redis_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_flushdb(host: str, port: int, db: int) -> None:
    """FLUSHDB on database ``db`` only (Redis' inline protocol: no client library needed)."""
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(f"SELECT {db}\r\nFLUSHDB\r\n".encode())
        s.recv(64)


def airflow_env(home: Path, meta_dsn: str, api_port: int, warehouse_dsn: str, landing: Path, **settings: str) -> dict[str, str]:
    """The environment every service of one test shares: nothing Airflow-related inherited from the caller,
    the project's DAGs and library, the metadata database (psycopg2 driver), the api-server on ``api_port``,
    log servers on free ports (another engineer's scheduler may hold the defaults), the warehouse as the
    connection ``news_warehouse``; ``settings`` add to or override it."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))}
    return inherited | {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta_dsn.replace("postgresql://", "postgresql+psycopg2://", 1),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",  # as docker-compose.yaml (see there)
        "AIRFLOW_CONN_NEWS_WAREHOUSE": warehouse_dsn,
        "NEWS_LANDING_DIR": str(landing),
        "NEWS_QUARANTINE_DIR": str(home / "quarantine"),
        "PYTHONPATH": os.pathsep.join([str(PROJECT / "plugins"), str(PROJECT / "dags")]),
        "GX_ANALYTICS_ENABLED": "false",
    } | settings


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"({path}: {exc})"


class Services:
    """The Airflow processes of one test, each in its own process group, with its output in a file."""

    def __init__(self, home: Path, env: dict[str, str]):
        self.home, self.env = home, env
        self.procs: dict[str, subprocess.Popen] = {}

    def migrate(self, timeout: float = 600) -> None:
        done = subprocess.run([*AIRFLOW, "db", "migrate"], env=self.env, cwd=PROJECT, capture_output=True, text=True,
                              timeout=timeout)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    def start(self, name: str, *args: str) -> None:
        """``airflow <args>`` (default: ``airflow <name>``), its output in ``<home>/<name>.log``."""
        with open(self.home / f"{name}.log", "wb") as log:  # the child keeps its own descriptor
            self.procs[name] = subprocess.Popen(
                [*AIRFLOW, *(args or (name,))], env=self.env, cwd=PROJECT, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: stopped whole, children included
            )

    def alive(self) -> dict[str, int | None]:
        return {name: proc.poll() for name, proc in self.procs.items()}

    def log(self, name: str) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def dump(self, tail: int = 60) -> str:
        """The end of every service's log, and of the newest task logs that mention an error."""
        parts = [f"===== {name} (exit {rc}) =====\n{_tail(self.home / f'{name}.log', tail)}"
                 for name, rc in self.alive().items()]
        for path in sorted((self.home / "logs").rglob("*.log"))[-6:]:
            if "error" in path.read_text(errors="replace").lower():
                parts.append(f"===== {path.relative_to(self.home)} =====\n{_tail(path, 40)}")
        return "\n".join(parts)

    def check_alive(self) -> None:
        dead = {name: rc for name, rc in self.alive().items() if rc is not None}
        assert not dead, f"service(s) exited: {dead}\n{self.dump()}"

    def wait(self, what: str, probe: Callable[[], object], timeout: float = 600, every: float = 2.0):
        """Poll ``probe`` until it returns something true (exceptions count as not yet: a server still
        starting); fail with the logs when a service dies or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                result = probe()
            except Exception:
                result = None
            if result:
                return result
            time.sleep(every)
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{self.dump()}")

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
