"""The library's stages against a real PostgreSQL, on the project's own sample landing zone."""

from __future__ import annotations

import os
import shutil
from datetime import date, datetime

import psycopg2
import pytest

from helpers import table_checksums
from khabar.gates import GateFailed, validate_stage
from khabar.ingest import TEHRAN
from khabar.paths import SAMPLE_LANDING_DIR
from khabar.pipeline import Run, run_day
from khabar.warehouse import apply_migrations

pytestmark = pytest.mark.integration
DAYS = (date(2022, 1, 25), date(2022, 1, 26))


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    root = tmp_path_factory.mktemp("landing")
    shutil.copytree(SAMPLE_LANDING_DIR, root, dirs_exist_ok=True)
    loose = datetime(2022, 1, 26, 8, 0, tzinfo=TEHRAN).timestamp()  # git does not keep mtimes
    os.utime(root / "loose_note.txt", (loose, loose))
    return root


def query(dsn, sql, params=()):
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()




@pytest.fixture(scope="module")
def loaded(fresh_db, landing):
    results = [run_day(fresh_db, Run(day, landing)) for day in DAYS]
    return fresh_db, results


def test_migrations_are_idempotent(fresh_db):
    apply_migrations(fresh_db)
    assert apply_migrations(fresh_db) == []


def test_every_input_is_accounted_for(loaded):
    dsn, _ = loaded
    for run_id, seen, articles, dups, quarantined in query(
        dsn, "select run_id, documents_seen, articles_loaded, duplicates, quarantined from reporting.runs order by 1"
    ):
        assert seen == articles + dups + quarantined, run_id
    reasons = dict(query(dsn, "select source_path || '#' || record_index, reason from reporting.quarantine"))
    assert reasons["2022-01-25/broken.txt#-1"] == "binary content"
    assert reasons["2022-01-26/attachment.txt#-1"] == "binary content"
    assert reasons["2022-01-25/crawl_0125.jsonl#1"] == "JSON record without a body field"
    assert reasons["2022-01-25/crawl_0125.jsonl#2"].startswith("invalid JSON")


def test_exact_copy_is_a_duplicate_and_republished_story_joins_yesterdays(loaded):
    dsn, _ = loaded
    (dup,) = query(dsn, "select source_path, duplicate_of from reporting.duplicates")
    assert dup[0] == "2022-01-25/mehr/sepahan_foolad.html" or dup[0] == "2022-01-25/archive/sepahan_foolad_saved.htm"
    isfahan = query(
        dsn,
        "select count(distinct run_id), count(*) from reporting.articles where story_id ="
        " (select story_id from reporting.articles where source_path = '2022-01-25/isfahan_water_fars.txt')",
    )
    assert isfahan == [(2, 2)]  # the 26th's crawler record joined the 25th's story
    drills = query(
        dsn,
        "select count(distinct story_id) from reporting.articles where (source_path, record_index) in"
        " (('2022-01-26/stream_0126.jsonl', 0), ('2022-01-26/mehr/drill_region12_win1256.txt', 0))",
    )
    assert drills == [(2,)]  # two different earthquake drills: same topic, different stories


def test_bodies_are_clean_and_dated(loaded):
    dsn, _ = loaded
    for (body,) in query(dsn, "select body from reporting.articles"):
        for furniture in ("پربیننده", "ارسال نظرات", "انتهای پیام", "انتهای‌پیام", "مشاهده در مرجع"):
            assert furniture not in body
        assert not set("يكـ") & set(body)
    (jalali,) = query(
        dsn, "select published_jalali from reporting.articles where source_path = '2022-01-25/isfahan_water_fars.txt'"
    )[0]
    assert jalali == "1400-11-05"
    assert query(dsn, "select count(*) from reporting.articles where published_at is null and date_reason is null") == [(0,)]


def test_rerunning_a_day_changes_nothing(loaded, landing):
    dsn, _ = loaded
    before = table_checksums(dsn)
    run_day(dsn, Run(DAYS[0], landing))
    run_day(dsn, Run(DAYS[1], landing))
    assert table_checksums(dsn) == before


def test_a_crash_inside_load_leaves_the_previous_state(loaded, landing, monkeypatch):
    dsn, _ = loaded
    before = table_checksums(dsn)
    import khabar.pipeline as pipeline

    original = pipeline.pipeline_version
    monkeypatch.setattr(pipeline, "pipeline_version", lambda: (_ for _ in ()).throw(RuntimeError("worker killed")))
    with pytest.raises(RuntimeError):
        pipeline.load(dsn, Run(DAYS[0], landing))
    monkeypatch.setattr(pipeline, "pipeline_version", original)
    assert table_checksums(dsn) == before
    pipeline.load(dsn, Run(DAYS[0], landing))  # the retry completes it
    assert table_checksums(dsn) == before


def test_gate_failure_is_raised_and_stored(loaded, landing):
    dsn, _ = loaded
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("update staging.documents set body = body || ' ك' where run_id = '2022-01-25' and status = 'active'")
    with pytest.raises(GateFailed, match="Arabic-only letters"):
        validate_stage(dsn, "normalize", "2022-01-25", DAYS[0])
    rows = query(
        dsn,
        "select success, expectations_failed from reporting.gate_results where stage = 'normalize'"
        " order by gate_result_id desc limit 1",
    )
    assert rows == [(False, 1)]
