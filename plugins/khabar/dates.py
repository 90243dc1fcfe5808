"""Date tagging: find the publication date of a document, with where it came from.

Jalali dates are the norm (``سه شنبه 5 بهمن 1400 - 17:18`` → 1400-11-05 17:18 Tehran time);
the calendar is detected from the form and the year, never assumed. Times are Asia/Tehran
(``zoneinfo``: +03:30, or +04:30 under the daylight saving Iran kept until 2022) and stored in UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import jdatetime

TEHRAN = ZoneInfo("Asia/Tehran")
EARLIEST = date(1990, 1, 1)  # the plausible window opens here; the run's day closes it

_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_FOLD = str.maketrans({"ي": "ی", "ى": "ی", "ك": "ک", "\u200c": " ", "\u200f": None, "\u200e": None})

JALALI_MONTHS = {
    "فروردین": 1, "اردیبهشت": 2, "خرداد": 3, "تیر": 4, "مرداد": 5, "امرداد": 5, "شهریور": 6,
    "مهر": 7, "آبان": 8, "آذر": 9, "دی": 10, "بهمن": 11, "اسفند": 12,
}
# Python's weekday(): Monday=0 … Sunday=6
WEEKDAYS = {
    "دوشنبه": 0, "سه شنبه": 1, "سهشنبه": 1, "چهارشنبه": 2, "چهار شنبه": 2, "پنجشنبه": 3,
    "پنج شنبه": 3, "جمعه": 4, "شنبه": 5, "یکشنبه": 6, "یک شنبه": 6,
}
_MONTH_RE = "|".join(sorted(JALALI_MONTHS, key=len, reverse=True))
_WEEKDAY_RE = "|".join(sorted((re.escape(w) for w in WEEKDAYS), key=len, reverse=True))
_TIME = r"(?:\s*[-–،,]?\s*(?:ساعت\s*)?(?P<H>\d{1,2}):(?P<M>\d{2})(?::\d{2})?)?"

TEXTUAL_JALALI = re.compile(
    rf"(?:(?P<wd>{_WEEKDAY_RE})\s*[،,]?\s*)?(?P<d>\d{{1,2}})\s*(?P<m>{_MONTH_RE})(?:\s?ماه)?\s*[،,]?\s*(?P<y>1[2-4]\d\d)\b{_TIME}"
)
NUMERIC_JALALI = re.compile(rf"(?<![\d/])(?P<y>1[2-4]\d\d)\s*[/\-.]\s*(?P<m>\d{{1,2}})\s*[/\-.]\s*(?P<d>\d{{1,2}})(?![\d/]){_TIME}")
FARS_ID = re.compile(r"/(?P<id>\d{10}|\d{14})(?:/|$|\?)")


@dataclass(frozen=True)
class DateMatch:
    """A date found in text: its span in the folded text, the day and time it names."""

    start: int
    end: int
    day: date  # Gregorian
    jalali: str  # YYYY-MM-DD
    hour: int | None
    minute: int | None
    weekday_ok: bool | None  # None when no weekday was written


def fold_text(text: str) -> str:
    """Digits to Latin, Arabic letters to Persian, ZWNJ to space: the form date patterns read.

    >>> fold_text("سه‌شنبه ۵ بهمن ۱۴۰۰")
    'سه شنبه 5 بهمن 1400'
    """
    return text.translate(_DIGITS).translate(_FOLD)


def jalali_to_gregorian(year: int, month: int, day: int) -> date | None:
    try:
        return jdatetime.date(year, month, day).togregorian()
    except ValueError:
        return None


def to_jalali_text(day: date) -> str:
    j = jdatetime.date.fromgregorian(date=day)
    return f"{j.year:04d}-{j.month:02d}-{j.day:02d}"


def _match(m: re.Match, month: int) -> DateMatch | None:
    year, day_no = int(m["y"]), int(m["d"])
    greg = jalali_to_gregorian(year, month, day_no)
    if greg is None:
        return None
    hour = minute = None
    if m["H"] is not None and int(m["H"]) < 24 and int(m["M"]) < 60:
        hour, minute = int(m["H"]), int(m["M"])
    wd = m.groupdict().get("wd")
    weekday_ok = None if not wd else WEEKDAYS[wd] == greg.weekday()
    return DateMatch(m.start(), m.end(), greg, f"{year:04d}-{month:02d}-{day_no:02d}", hour, minute, weekday_ok)


def find_dates(text: str) -> list[DateMatch]:
    """Every Jalali date written in ``text`` (textual or numeric), in order of position.

    >>> [d.jalali for d in find_dates("سه شنبه 5 بهمن 1400 - 17:18")]
    ['1400-11-05']
    """
    folded = fold_text(text)
    found: list[DateMatch] = []
    for m in TEXTUAL_JALALI.finditer(folded):
        if (dm := _match(m, JALALI_MONTHS[m["m"]])) is not None:
            found.append(dm)
    for m in NUMERIC_JALALI.finditer(folded):
        if any(d.start <= m.start() < d.end for d in found):
            continue
        month = int(m["m"])
        if 1 <= month <= 12 and (dm := _match(m, month)) is not None:
            found.append(dm)
    return sorted(found, key=lambda d: d.start)


def is_dateline(line: str) -> bool:
    """A short line that is only a date (a header dateline), e.g. «دوشنبه 5 آذر 1403»."""
    folded = fold_text(line).strip()
    if not folded or len(folded.split()) > 12:
        return False
    covered = sum(d.end - d.start for d in find_dates(folded))
    return covered >= 0.7 * len(folded.replace(" ", "")) or covered >= len(folded) - 6


def _local(day: date, hour: int | None, minute: int | None) -> datetime:
    return datetime.combine(day, time(hour or 0, minute or 0), tzinfo=TEHRAN)


@dataclass(frozen=True)
class DateResult:
    published_at: datetime | None
    published_jalali: str | None
    source: str  # html_meta | dateline | link | record_field | none
    evidence: str | None
    reason: str | None  # why the date is null, or what lowered confidence


def _check(when: datetime, run_day: date) -> str | None:
    local_day = when.astimezone(TEHRAN).date()
    if local_day < EARLIEST:
        return f"date {to_jalali_text(local_day)} is before the plausible window ({EARLIEST.isoformat()})"
    if local_day > run_day:
        return f"date {to_jalali_text(local_day)} ({local_day.isoformat()}) is after the run's day {run_day.isoformat()}"
    return None


def _from_iso(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=TEHRAN)


def _from_fars_link(link: str) -> datetime | None:
    m = FARS_ID.search(link)
    if not m:
        return None
    digits = m["id"]
    if len(digits) == 10:  # yymmdd + serial: 8707060313 → 1387-07-06
        year, month, day_no = 1300 + int(digits[:2]), int(digits[2:4]), int(digits[4:6])
    else:  # yyyymmdd + serial: 13960807000572 → 1396-08-07
        year, month, day_no = int(digits[:4]), int(digits[4:6]), int(digits[6:8])
    greg = jalali_to_gregorian(year, month, day_no) if 1 <= month <= 12 else None
    return _local(greg, None, None) if greg else None


def _candidates(meta: dict, datelines: list[str], source_path: str) -> list[tuple[str, str, datetime]]:
    """Evidence in order of trust: HTML metadata, header datelines, link or file name, record field."""
    out: list[tuple[str, str, datetime]] = []
    for key in ("published_time", "date_published", "time_datetime"):
        if isinstance(meta.get(key), str) and (when := _from_iso(meta[key])):
            out.append(("html_meta", meta[key], when))
    for line in datelines:
        for dm in find_dates(line):
            out.append(("dateline", line, _local(dm.day, dm.hour, dm.minute)))
    for text in (meta.get("link"), source_path):
        if isinstance(text, str) and (when := _from_fars_link(text)):
            out.append(("link", text, when))
    if isinstance(meta.get("date"), str):
        field = meta["date"]
        for dm in find_dates(field):
            out.append(("record_field", field, _local(dm.day, dm.hour, dm.minute)))
        if not find_dates(field) and (when := _from_iso(field)):
            out.append(("record_field", field, when))
    return out


def tag_date(meta: dict, datelines: list[str], source_path: str, run_day: date) -> DateResult:
    """The publication date from the best evidence that passes the guards; null with a reason."""
    rejected: list[str] = []
    for source, evidence, when in _candidates(meta, datelines, source_path):
        if (why := _check(when, run_day)) is not None:
            rejected.append(f"{source}: {why}")
            continue
        local = when.astimezone(TEHRAN)
        return DateResult(when.astimezone(ZoneInfo("UTC")), to_jalali_text(local.date()), source, evidence, None)
    reason = "; ".join(rejected) if rejected else "no date found in metadata, header lines, link or record"
    return DateResult(None, None, "none", None, reason)
