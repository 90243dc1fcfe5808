from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from khabar.dates import find_dates, is_dateline, tag_date

pytestmark = pytest.mark.unit
RUN_DAY = date(2022, 1, 25)


@pytest.mark.parametrize(
    ("text", "jalali", "hm"),
    [
        ("سه شنبه 5 بهمن 1400 - 17:18", "1400-11-05", (17, 18)),
        ("سه‌شنبه ۵ بهمن ۱۴۰۰ - ۱۰:۳۰", "1400-11-05", (10, 30)),  # ZWNJ weekday, Persian digits
        ("سهشنبه ۵ بهمن ۱۴۰۰", "1400-11-05", (None, None)),  # weekday written joined
        ("شنبه ۱ خرداد ۱۳۹۵ - ۲۳:۵۲", "1395-03-01", (23, 52)),
        ("۵ اردیبهشت‌ماه ۱۴۰۱", "1401-02-05", (None, None)),  # month with «ماه»
        ("5 اردیبهشت ماه 1401", "1401-02-05", (None, None)),
        ("۱۴۰۲/۰۷/۱۵", "1402-07-15", (None, None)),  # numeric Jalali, not 1402 AD
        ("1402-7-15", "1402-07-15", (None, None)),
        ("٥ بهمن ١٤٠٠", "1400-11-05", (None, None)),  # Arabic-Indic digits
    ],
)
def test_jalali_forms(text, jalali, hm):
    (found,) = find_dates(text)
    assert found.jalali == jalali
    assert (found.hour, found.minute) == hm


def test_weekday_that_disagrees_is_noticed():
    (found,) = find_dates("دوشنبه 5 بهمن 1400")  # 1400-11-05 was a Tuesday
    assert found.weekday_ok is False


def test_dateline_tags_tehran_time_in_utc():
    result = tag_date({}, ["سه شنبه 5 بهمن 1400 - 17:18"], "x.txt", RUN_DAY)
    assert result.published_jalali == "1400-11-05"
    assert result.published_at == datetime(2022, 1, 25, 13, 48, tzinfo=timezone.utc)  # +03:30 in winter
    assert result.source == "dateline"


def test_summer_dates_before_2022_use_daylight_saving():
    result = tag_date({}, ["1399/04/01 12:00"], "x.txt", RUN_DAY)
    assert result.published_at == datetime(2020, 6, 21, 7, 30, tzinfo=timezone.utc)  # +04:30


def test_date_after_the_run_day_is_rejected_with_reason():
    # seed 001's aggregator page date, years after the event
    result = tag_date({}, ["دوشنبه 5 آذر 1403"], "x.txt", RUN_DAY)
    assert result.published_at is None
    assert "after the run's day" in result.reason


def test_metadata_beats_dateline():
    meta = {"published_time": "2022-01-24T10:30:00+03:30"}
    result = tag_date(meta, ["سه شنبه 5 بهمن 1400 - 17:18"], "x.html", RUN_DAY)
    assert (result.source, result.published_jalali) == ("html_meta", "1400-11-04")


@pytest.mark.parametrize(
    ("link", "jalali"),
    [("https://www.farsnews.ir/news/8707060313", "1387-07-06"), ("https://www.farsnews.ir/news/13960807000572", "1396-08-07")],
)
def test_fars_news_ids_carry_the_date(link, jalali):
    assert tag_date({"link": link}, [], "x.json", RUN_DAY).published_jalali == jalali


def test_no_date_has_a_reason():
    result = tag_date({}, [], "x.txt", RUN_DAY)
    assert (result.published_at, result.source) == (None, "none")
    assert result.reason


@pytest.mark.parametrize(
    ("line", "expected"),
    [("دوشنبه 5 آذر 1403", True), ("سرلشکر باقری: همکاری‌ها توسعه می‌یابد", False), ("در 5 بهمن 1400 جلسه‌ای برگزار شد و تصمیم‌های مهمی گرفته شد", False)],
)
def test_is_dateline(line, expected):
    assert is_dateline(line) is expected
