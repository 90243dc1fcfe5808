"""Date tagging in the warehouse: mentions, the Jalali calendar dimension, coverage per outlet,
and story dates, against a real PostgreSQL."""

from __future__ import annotations

import os
import shutil
from datetime import date, datetime, timedelta

import psycopg2
import pytest

from helpers import SEEDS, needs_shared
from khabar.ingest import TEHRAN
from khabar.paths import SAMPLE_LANDING_DIR
from khabar.pipeline import Run, run_day

pytestmark = pytest.mark.integration
DAYS = (date(2022, 1, 25), date(2022, 1, 26))


def query(dsn, sql, params=()):
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


@pytest.fixture(scope="module")
def loaded(fresh_db, tmp_path_factory):
    root = tmp_path_factory.mktemp("landing")
    shutil.copytree(SAMPLE_LANDING_DIR, root, dirs_exist_ok=True)
    loose = datetime(2022, 1, 26, 8, 0, tzinfo=TEHRAN).timestamp()
    os.utime(root / "loose_note.txt", (loose, loose))
    for day in DAYS:
        run_day(fresh_db, Run(day, root))
    return fresh_db


def test_dated_articles_have_confidence_and_calendar(loaded):
    rows = query(loaded, "select published_at, date_confidence, date_calendar, date_source from reporting.articles")
    for published_at, confidence, calendar, source in rows:
        if published_at is None:
            assert (confidence, calendar, source) == (None, None, "none")
        else:
            assert 0 < confidence <= 1 and calendar in ("jalali", "gregorian", "hijri")


def test_mentions_are_spans_of_their_article_body(loaded):
    rows = query(
        loaded,
        "select m.surface, substr(a.body, m.start_char + 1, m.end_char - m.start_char), m.kind, m.resolved_day,"
        " a.published_at from reporting.date_mentions m join reporting.articles a using (article_id)",
    )
    assert rows
    for surface, span, kind, resolved, published in rows:
        assert surface == span
        if kind == "relative":  # resolved against the publication date when there is one
            assert (resolved is None) == (published is None)


def test_isfahan_today_resolves_to_its_dateline(loaded):
    # the Fars sample's body says «امروز»; its dateline is سه شنبه 5 بهمن 1400
    rows = query(
        loaded,
        "select m.resolved_jalali from reporting.date_mentions m join reporting.articles a using (article_id)"
        " where a.source_path = '2022-01-25/isfahan_water_fars.txt' and m.surface like 'امروز%%'",
    )
    assert rows and {r[0] for r in rows} == {"1400-11-05"}


def test_calendar_is_one_row_per_day_covering_every_published_day(loaded):
    ((low, high, n),) = query(loaded, "select min(day), max(day), count(*) from reporting.calendar")
    assert n == (high - low).days + 1
    missing = query(
        loaded,
        "select a.article_id from reporting.articles a where a.published_at is not null and not exists"
        " (select 1 from reporting.calendar c where c.day = (a.published_at at time zone 'Asia/Tehran')::date"
        " and c.jalali_date = a.published_jalali)",
    )
    assert missing == []
    # analysts group by Jalali month with a join
    months = query(
        loaded,
        "select c.jalali_month_name, count(*) from reporting.articles a"
        " join reporting.calendar c on c.day = (a.published_at at time zone 'Asia/Tehran')::date group by 1",
    )
    assert dict(months).get("بهمن", 0) >= 1


def test_coverage_is_recorded_per_run_and_outlet(loaded):
    for run_id in ("2022-01-25", "2022-01-26"):
        coverage = query(
            loaded,
            "select outlet, documents, dated, from_html_meta + from_dateline + from_link + from_record_field"
            " from reporting.date_coverage where run_id = %s",
            (run_id,),
        )
        assert coverage
        for _, documents, dated, by_source in coverage:
            assert 0 <= dated <= documents and by_source == dated
        (documents,) = query(
            loaded, "select count(*) from reporting.articles where run_id = %s", (run_id,)
        )[0]
        (duplicates,) = query(loaded, "select count(*) from reporting.duplicates where run_id = %s", (run_id,))[0]
        assert sum(c[1] for c in coverage) == documents + duplicates  # every document that reached date tagging


@needs_shared(SEEDS)
@pytest.mark.shared
def test_story_is_as_old_as_its_earliest_article(fresh_db, tmp_path_factory):
    # A day after seed 001's page date (1403-09-05), so that date passes the guard and is stored:
    # the story of 000 and 001 must still date from 000's 1400-11-05.
    day = date(2024, 11, 26)
    root = tmp_path_factory.mktemp("seeds")
    (root / day.isoformat()).mkdir()
    for path in sorted(SEEDS.glob("*.txt")):
        shutil.copy(path, root / day.isoformat() / path.name)
    run_day(fresh_db, Run(day, root))
    rows = query(
        fresh_db,
        "select substr(source_path, 12, 3), published_jalali, published_at, story_id, is_canonical, article_id"
        " from reporting.articles order by source_path",
    )
    seeds = {seed: {"jalali": j, "at": at, "story": sid, "canonical": c, "id": aid} for seed, j, at, sid, c, aid in rows}
    first, second = seeds["000"], seeds["001"]
    assert (first["jalali"], second["jalali"]) == ("1400-11-05", "1403-09-05")
    assert first["at"] == datetime(2022, 1, 25, 17, 18, tzinfo=TEHRAN)
    assert second["at"] - first["at"] > timedelta(days=365)  # the aggregator's page date, years later
    assert first["story"] == second["story"]
    ((first_published_at, canonical),) = query(
        fresh_db, "select first_published_at, canonical_article_id from reporting.stories where story_id = %s",
        (first["story"],),
    )
    assert first_published_at == first["at"]  # the story is as old as 000
    assert first["canonical"] and not second["canonical"]
    assert canonical == first["id"]  # the earliest published article is the story's canonical one
    # «عصر امروز (سهشنبه)» in 000's body is 000's own day
    today = query(
        fresh_db,
        "select m.resolved_jalali from reporting.date_mentions m join reporting.articles a using (article_id)"
        " where substr(a.source_path, 12, 3) = '000' and m.surface like '%%امروز%%'",
    )
    assert today and {r[0] for r in today} == {"1400-11-05"}
