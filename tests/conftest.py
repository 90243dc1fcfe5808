"""Shared fixtures: project paths, ../shared, and a real PostgreSQL with a fresh database per module."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from hypothesis import settings

from helpers import PROJECT

# Airflow reads these at import time: set them before any test imports it.
os.environ.setdefault("AIRFLOW_HOME", str(PROJECT / ".airflow"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(PROJECT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(PROJECT / "plugins"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# Gates render Data Docs; the tests' thousands of results go to a scratch folder, not .gx/ of the project.
os.environ.setdefault("NEWS_DATA_DOCS_DIR", tempfile.mkdtemp(prefix="khabar_data_docs_"))

# pgserver logs from an atexit hook, after pytest has closed its capture streams: keep it quiet.
logging.getLogger("pgserver").addHandler(logging.NullHandler())
logging.getLogger("pgserver").propagate = False

LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"

# CI (CI=true) runs the property tests derandomized: the same examples on every run, so a red build
# is a regression, not a new random find. Locally they explore (and replay finds from .hypothesis/).
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


def _server_dsn(tmp_root: Path) -> str:
    """127.0.0.1:5432 when it answers, else the embedded PostgreSQL (pgserver)."""
    import psycopg2

    try:
        psycopg2.connect(LOCAL_PG, connect_timeout=3).close()
        return LOCAL_PG
    except psycopg2.OperationalError:
        from khabar.warehouse import embedded_dsn

        return embedded_dsn(tmp_root / "pgdata")


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory) -> str:
    return _server_dsn(tmp_path_factory.mktemp("pg"))


def _with_db(dsn: str, name: str) -> str:
    """The same server URI with another database name (URIs, so GX's SQLAlchemy can use them too)."""
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


@pytest.fixture(scope="module")
def fresh_db(pg_server):
    """A new, empty database for the test module; dropped afterwards."""
    import psycopg2

    name = f"khabar_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(pg_server)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'create database "{name}"')
    yield _with_db(pg_server, name)
    with admin.cursor() as cur:
        cur.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", (name,))
        cur.execute(f'drop database if exists "{name}"')
    admin.close()


@pytest.fixture(scope="session")
def airflow_db():
    """Airflow's metadata database (SQLite under AIRFLOW_HOME), migrated once."""
    home = Path(os.environ["AIRFLOW_HOME"])
    if not (home / "airflow.db").exists():
        home.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    return home
