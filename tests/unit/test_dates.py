from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from khabar.dates import (
    HIJRI_CONFIDENCE,
    calendar_row,
    fars_link_date,
    find_dates,
    fold_text,
    header_datelines,
    is_dateline,
    numeric_calendar,
    tag_date,
    tag_mentions,
)

pytestmark = pytest.mark.unit
RUN_DAY = date(2022, 1, 25)
LABELLED = Path(__file__).resolve().parents[1] / "data" / "dates"


def _strings() -> list:
    rows = []
    for line in (LABELLED / "strings.tsv").read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        row_id, text, reference, expected, calendar, tolerance, _note = line.split("\t")
        rows.append(pytest.param(text, reference, expected, calendar, int(tolerance), id=row_id))
    return rows


def _documents() -> list:
    rows = []
    for line in (LABELLED / "documents.jsonl").read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        rows.append(pytest.param(doc, id=doc["id"]))
    return rows


# The labelled set (tests/data/dates/strings.tsv) is the golden pairs; each row carries its own note
# (the tricky ones: the verb «می‌رسد», 30 Esfand of a non-leap year, Iran's Ramadan 1445).
@pytest.mark.parametrize(("text", "reference", "expected", "calendar", "tolerance"), _strings())
def test_labelled_strings(text, reference, expected, calendar, tolerance):
    ref = None if reference == "-" else date.fromisoformat(reference)
    found = find_dates(text, reference=ref)
    if expected == "-":
        assert found == []
        return
    first = found[0]
    assert first.calendar == calendar
    assert abs((first.day - date.fromisoformat(expected)).days) <= tolerance
    assert first.surface == text[first.start:first.end]
    if tolerance:  # a Hijri date that may be a day off is never given full confidence
        assert first.confidence <= HIJRI_CONFIDENCE


@pytest.mark.parametrize("doc", _documents())
def test_labelled_documents(doc):
    result = tag_date(doc["meta"], doc["datelines"], doc["source_path"], date.fromisoformat(doc["run_day"]))
    assert result.published_jalali == doc["expected_jalali"]
    assert result.source == doc["expected_source"]
    if result.published_at is None:
        assert result.reason and result.confidence is None
    else:
        assert 0 < result.confidence <= 1


@pytest.mark.parametrize(
    ("text", "hm"),
    [
        ("سه شنبه 5 بهمن 1400 - 17:18", (17, 18)),
        ("سه‌شنبه ۵ بهمن ۱۴۰۰ ساعت ۱۰:۳۰", (10, 30)),
        ("2019-06-19T10:30:00", (10, 30)),
        ("5 بهمن 1400 - 25:99", (None, None)),  # not a clock time: the date stands without one
    ],
)
def test_times(text, hm):
    (found,) = find_dates(text)
    assert (found.hour, found.minute) == hm


@pytest.mark.parametrize(("year", "calendar"), [(1402, "jalali"), (2023, "gregorian"), (1444, "hijri"), (1250, None)])
def test_numeric_calendar_is_detected_from_the_year(year, calendar):
    assert numeric_calendar(year) == calendar


def test_a_year_outside_the_month_names_calendar_is_not_a_date():
    assert find_dates("5 بهمن 2022") == []  # a Jalali month with a Gregorian year: refused, not guessed
    assert find_dates("15 شعبان 1300") == []  # Hijri month, year outside hijridate's Umm al-Qura table


def test_fold_keeps_positions():
    text = "عصر امروز (سه‌شنبه) در ۵ بهمن ۱۴۰۰"
    assert len(fold_text(text)) == len(text)


def test_weekday_that_disagrees_is_noticed_and_recorded():
    (found,) = find_dates("دوشنبه 5 بهمن 1400")  # 1400-11-05 was a Tuesday
    assert found.weekday_ok is False and found.stated_weekday == "دوشنبه"
    result = tag_date({}, ["دوشنبه 5 بهمن 1400"], "x.txt", RUN_DAY)
    agreeing = tag_date({}, ["سه شنبه 5 بهمن 1400"], "x.txt", RUN_DAY)
    assert result.confidence < agreeing.confidence
    assert "دوشنبه" in result.weekday_mismatch and "سه شنبه" in result.weekday_mismatch
    assert agreeing.weekday_mismatch is None


def test_dateline_tags_tehran_time_in_utc():
    result = tag_date({}, ["سه شنبه 5 بهمن 1400 - 17:18"], "x.txt", RUN_DAY)
    assert result.published_jalali == "1400-11-05"
    assert result.published_at == datetime(2022, 1, 25, 13, 48, tzinfo=UTC)  # +03:30 in winter
    assert (result.source, result.calendar) == ("dateline", "jalali")


def test_summer_dates_before_2022_use_daylight_saving():
    result = tag_date({}, ["1399/04/01 12:00"], "x.txt", RUN_DAY)
    assert result.published_at == datetime(2020, 6, 21, 7, 30, tzinfo=UTC)  # +04:30


def test_summer_dates_after_2022_do_not():
    result = tag_date({}, ["1402/04/01 12:00"], "x.txt", date(2023, 7, 1))
    assert result.published_at == datetime(2023, 6, 22, 8, 30, tzinfo=UTC)  # Iran ended DST in 2022


def test_date_after_the_run_day_is_rejected_with_reason():
    # seed 001's aggregator page date, years after the event
    result = tag_date({}, ["دوشنبه 5 آذر 1403"], "x.txt", RUN_DAY)
    assert result.published_at is None
    assert "after the run's day" in result.reason


def test_date_before_the_window_is_rejected_with_reason():
    result = tag_date({"date": "22 بهمن 1357"}, [], "x.json", RUN_DAY)
    assert result.published_at is None and "before the plausible window" in result.reason


def test_hijri_publication_date_has_lower_confidence():
    hijri = tag_date({"date": "15 شعبان 1443"}, [], "x.json", date(2022, 3, 20))
    jalali = tag_date({"date": "1400/12/27"}, [], "x.json", date(2022, 3, 20))
    assert hijri.published_jalali == jalali.published_jalali == "1400-12-27"
    assert hijri.calendar == "hijri" and hijri.confidence < jalali.confidence


@pytest.mark.parametrize(
    ("link", "jalali"),
    [
        ("https://www.farsnews.ir/news/8707060313", "1387-07-06"),
        ("https://www.farsnews.ir/news/13960807000572", "1396-08-07"),
        ("https://www.farsnews.ir/news/13911222000865/تشدید-مجازات", "1391-12-22"),  # id followed by a slug
    ],
)
def test_fars_news_ids_carry_the_date(link, jalali):
    result = tag_date({"link": link}, [], "x.json", RUN_DAY)
    assert (result.published_jalali, result.confidence) == (jalali, 0.95)


def test_fars_early_series_is_1382_with_lower_confidence():
    # 6010060837: the day after the Bam earthquake (5 Dey 1382) by its own text
    day, confidence = fars_link_date("https://www.farsnews.ir/news/6010060837")
    assert day == date(2003, 12, 27) and confidence < 1


def test_an_unknown_ten_digit_prefix_is_not_a_date():
    assert fars_link_date("https://example.com/1643100000") is None  # a Unix time, not a Fars id


def test_relative_words_need_a_reference():
    (found,) = find_dates("ظهر دیروز")
    assert found.day is None and found.kind == "relative"


def test_mentions_are_spans_of_the_body_resolved_against_publication():
    body = "سرلشکر باقری عصر امروز (سه‌شنبه) گفت که ظهر دیروز و شامگاه سه شنبه هفته گذشته و ۲۲ بهمن ۱۳۵۷ دیدار کرد."
    published = datetime(2022, 1, 25, 13, 48, tzinfo=UTC)
    mentions = tag_mentions(body, published)
    assert [m.surface for m in mentions] == ["عصر امروز (سه‌شنبه)", "ظهر دیروز", "شامگاه سه شنبه", "هفته گذشته", "۲۲ بهمن ۱۳۵۷"]
    assert all(body[m.start:m.end] == m.surface for m in mentions)
    assert [m.day for m in mentions] == [date(2022, 1, 25), date(2022, 1, 24), date(2022, 1, 25), date(2022, 1, 18), date(1979, 2, 11)]
    assert [m.kind for m in mentions] == ["relative"] * 4 + ["absolute"]


def test_mentions_use_the_tehran_day_of_publication():
    # 21:00 UTC on the 24th is 00:30 on the 25th in Tehran: «امروز» is the 25th
    (today,) = tag_mentions("امروز", datetime(2022, 1, 24, 21, 0, tzinfo=UTC))
    assert today.day == date(2022, 1, 25)


@pytest.mark.parametrize(
    ("day", "row"),
    [
        # 1400-11-05, a Tuesday: Saturday 1400-11-02 starts its week
        (date(2022, 1, 25), ("1400-11-05", 1400, 11, "بهمن", 5, "سه شنبه", 4, date(2022, 1, 22))),
        # Nowruz 1403 was a Wednesday; the week holding it (from Saturday 2024-03-16) is week 1
        (date(2024, 3, 20), ("1403-01-01", 1403, 1, "فروردین", 1, "چهارشنبه", 5, date(2024, 3, 16))),
        (date(2024, 3, 19), ("1402-12-29", 1402, 12, "اسفند", 29, "سه شنبه", 4, date(2024, 3, 16))),
    ],
)
def test_calendar_rows(day, row):
    out = calendar_row(day)
    assert out[0] == day and out[1:9] == row


def test_calendar_weeks_start_on_saturday_and_count_from_nowruz():
    assert calendar_row(date(2024, 3, 20))[9] == 1
    assert calendar_row(date(2024, 3, 23))[9] == 2  # the Saturday after Nowruz 1403
    year_1402 = [calendar_row(date(2023, 3, 21) + timedelta(days=i)) for i in range(365)]  # 1402 has 365 days
    assert year_1402[0][1] == "1402-01-01" and year_1402[-1][1] == "1402-12-29"
    for before, after in pairwise(year_1402):
        step = after[9] - before[9]
        assert step == (1 if after[6] == "شنبه" else 0), after  # a new week begins on Saturday only


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("دوشنبه 5 آذر 1403", True),
        ("2019 Jun 19", True),
        ("سرلشکر باقری: همکاری‌ها توسعه می‌یابد", False),
        ("در 5 بهمن 1400 جلسه‌ای برگزار شد و تصمیم‌های مهمی گرفته شد", False),
        ("امروز", False),  # a relative word alone is not a dateline
    ],
)
def test_is_dateline(line, expected):
    assert is_dateline(line) is expected


def test_only_header_datelines_date_the_document():
    # a Fars record whose last paragraph is the date under a quoted message, a day before the news id's
    record = {"title": "پیام تسلیت", "abstract": "رهبر انقلاب امروز پیامی صادر کردند.", "paragraphs": ["متن پیام", "15/7/1383"]}
    raw = json.dumps(record, ensure_ascii=False)
    assert header_datelines(raw, ["15/7/1383"], "رهبر انقلاب امروز پیامی صادر کردند.\nمتن پیام") == []
    seed_like = "عنوان خبر\nسه شنبه 5 بهمن 1400 - 17:18\n\nرئیس ستاد کل گفت: «همکاری» ادامه دارد."
    kept = header_datelines(seed_like, ["سه شنبه 5 بهمن 1400 - 17:18"], "رئیس ستاد کل گفت: «همکاری» ادامه دارد.")
    assert kept == ["سه شنبه 5 بهمن 1400 - 17:18"]


def test_hijri_stated_weekday_one_day_off_names_irans_day():
    (iran,) = find_dates("سه‌شنبه ۱ رمضان ۱۴۴۵")
    assert (iran.day, iran.weekday_ok, iran.confidence) == (date(2024, 3, 12), True, HIJRI_CONFIDENCE)
    (far,) = find_dates("جمعه 1 رمضان 1445")  # no neighbour of Umm al-Qura's Monday: kept, and doubted
    assert far.day == date(2024, 3, 11) and far.weekday_ok is False and far.confidence < HIJRI_CONFIDENCE
