"""Security basics end to end: the warehouse password never reaches logs, output or exceptions;
hostile text (titles, file names, format placeholders) loads as text through parameterised SQL;
paths outside the landing root are refused (see also test_conservation and test_ingest_faults)."""

from __future__ import annotations

import json
import logging
import traceback
from datetime import date
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest

from khabar.gates import validate_stage
from khabar.pipeline import Run, run_day
from khabar.warehouse import WarehouseError, redact_dsn

pytestmark = pytest.mark.integration
DAY = date(2022, 4, 1)
SECRET = "Kh4bar-S3cret-9f2c"
INJECTION = "'); drop table reporting.articles; --"
BODY = "به گزارش خبرنگار اقتصادی، نرخ تورم ماهانه در فروردین کاهش یافت و کارشناسان این روند را پایدار می‌دانند. " * 3


def with_password(dsn: str, password: str = SECRET, port: int | None = None) -> str:
    parts = urlsplit(dsn)
    host = f"{parts.hostname}:{port or parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:{password}@{host}"))


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    root = tmp_path_factory.mktemp("landing")
    part = root / DAY.isoformat()
    part.mkdir()
    records = [
        {"title": INJECTION, "body": BODY},
        # psycopg2 placeholders inside data must stay data
        {"title": "%(run_id)s %s {batch}", "body": BODY.replace("نرخ", "شاخص") + " %(version)s %s"},
    ]
    (part / "feed.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records), encoding="utf-8")
    (part / "x'); drop table reporting.runs; --.txt").write_text(BODY.replace("تورم", "بیکاری"), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def secret_dsn(fresh_db):
    # the test server trusts local connections: the password is sent and ignored, as a real one would be checked
    return with_password(fresh_db)


def test_the_password_never_appears_in_logs_output_or_results(secret_dsn, landing, tmp_path, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    result = run_day(secret_dsn, Run(DAY, landing, quarantine_dir=tmp_path))
    out, err = capfd.readouterr()
    assert result["load"]["articles"] == 3
    for text in (caplog.text, out, err, repr(result)):
        assert SECRET not in text
    with psycopg2.connect(secret_dsn) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from reporting.gate_results where details::text like %s", (f"%{SECRET}%",))
        assert cur.fetchone() == (0,)


def test_a_failing_connection_names_the_redacted_dsn_only(secret_dsn, landing, tmp_path, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    dead = with_password(secret_dsn, port=1)  # nothing listens on port 1
    with pytest.raises(WarehouseError) as info:
        run_day(dead, Run(DAY, landing, quarantine_dir=tmp_path))
    rendered = "".join(traceback.format_exception(info.value))
    assert redact_dsn(dead) in str(info.value) and ":***@" in str(info.value)
    out, err = capfd.readouterr()
    for text in (rendered, repr(info.value), caplog.text, out, err):
        assert SECRET not in text


def test_a_failing_gate_connection_does_not_leak_the_password(secret_dsn, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    dead = with_password(secret_dsn, port=1)
    with pytest.raises(Exception) as info:
        validate_stage(dead, "load", DAY.isoformat(), DAY)
    rendered = "".join(traceback.format_exception(info.value))
    out, err = capfd.readouterr()
    for text in (rendered, caplog.text, out, err):
        assert SECRET not in text


def test_hostile_titles_and_file_names_load_as_text(fresh_db, landing, tmp_path):
    run_day(fresh_db, Run(DAY, landing, quarantine_dir=tmp_path))
    with psycopg2.connect(fresh_db) as conn, conn.cursor() as cur:
        # raw_text keeps the record as read; the title column is hazm-normalized («') ;», «٪»)
        cur.execute("select raw_text from reporting.articles where record_index >= 0 and source_path like '%%.jsonl'")
        titles = [json.loads(r[0])["title"] for r in cur.fetchall()]
        cur.execute("select source_path from reporting.files order by 1")
        paths = [r[0] for r in cur.fetchall()]
        cur.execute("select to_regclass('reporting.articles') is not null, to_regclass('reporting.runs') is not null")
        assert cur.fetchone() == (True, True)
    assert INJECTION in titles and "%(run_id)s %s {batch}" in titles
    assert f"{DAY}/x'); drop table reporting.runs; --.txt" in paths
