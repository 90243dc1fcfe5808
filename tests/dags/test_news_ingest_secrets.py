"""The warehouse password never reaches task output: news_ingest under dag.test() with a
connection that carries one, every log record, stdout/stderr and log file checked."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pendulum
import psycopg2
import pytest

pytestmark = pytest.mark.dags
SECRET = "Kh4bar-DagS3cret-71aa"
DAY = pendulum.datetime(2022, 5, 1, tz="UTC")
BODY = "به گزارش خبرنگار اقتصادی، نرخ تورم ماهانه در فروردین کاهش یافت و کارشناسان این روند را پایدار می‌دانند."


def test_the_password_is_not_in_any_task_output(dagbag, fresh_db, tmp_path, monkeypatch, caplog, capfd):
    parts = urlsplit(fresh_db)
    # the test server trusts local connections: the password is sent and ignored
    dsn = urlunsplit(parts._replace(netloc=f"{parts.username}:{SECRET}@{parts.hostname}:{parts.port}"))
    landing = tmp_path / "landing"
    (landing / "2022-05-01").mkdir(parents=True)
    (landing / "2022-05-01" / "a.txt").write_text(BODY, encoding="utf-8")
    (landing / "2022-05-01" / "junk.txt").write_bytes(b"\x00\xff" * 50)
    monkeypatch.setenv("AIRFLOW_CONN_NEWS_WAREHOUSE", dsn)
    monkeypatch.setenv("NEWS_LANDING_DIR", str(landing))
    monkeypatch.setenv("NEWS_QUARANTINE_DIR", str(tmp_path / "quarantine"))
    caplog.set_level(logging.DEBUG)
    started = time.time()
    dagrun = dagbag.dags["news_ingest"].test(logical_date=DAY)
    out, err = capfd.readouterr()
    assert str(dagrun.state) == "success"
    with psycopg2.connect(fresh_db) as conn, conn.cursor() as cur:
        cur.execute("select files_discovered, files_loaded, files_quarantined from reporting.runs where run_id = '2022-05-01'")
        assert cur.fetchone() == (2, 1, 1)
    assert "ingest_files" in caplog.text + out + err  # the tasks' output was captured here
    for text in (caplog.text, out, err):
        assert SECRET not in text
    logs = Path(os.environ["AIRFLOW_HOME"]) / "logs"
    fresh = [p for p in logs.rglob("*") if p.is_file() and p.stat().st_mtime >= started] if logs.is_dir() else []
    for path in fresh:
        assert SECRET not in path.read_text(errors="replace"), path
