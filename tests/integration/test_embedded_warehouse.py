"""With no connection configured the project starts its own PostgreSQL (pgserver) and reuses it."""

from __future__ import annotations

from datetime import date

import psycopg2
import pytest

from khabar.pipeline import Run, run_day
from khabar.warehouse import apply_migrations, embedded_dsn, redact_dsn

pytestmark = pytest.mark.integration


def test_embedded_server_starts_migrates_and_is_reused(tmp_path):
    dsn = embedded_dsn(tmp_path / "pgdata")
    assert "host=" in dsn  # a private Unix socket under the data folder, no TCP port taken
    assert "001_warehouse" in apply_migrations(dsn)
    assert embedded_dsn(tmp_path / "pgdata") == dsn  # the running server is found again
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from information_schema.tables where table_schema = 'reporting'")
        assert cur.fetchone()[0] >= 6
    # the whole pipeline with its GX gates over the Unix-socket DSN (what `make run` does)
    landing = tmp_path / "landing" / "2022-01-25"
    landing.mkdir(parents=True)
    (landing / "a.txt").write_text("عنوان خبر\nمتن خبر درباره همکاریهای دو کشور است.\nانتهای پیام/", encoding="utf-8")
    result = run_day(dsn, Run(date(2022, 1, 25), tmp_path / "landing"))
    assert result["load"]["articles"] == 1


def test_password_is_redacted_from_messages():
    assert redact_dsn("postgresql://news:s3cret@db:5432/news") == "postgresql://news:***@db:5432/news"
