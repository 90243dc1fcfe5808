"""Date tagging: the publication date of a document and every date its body mentions, with where
each came from and how far to trust it.

Jalali dates are the norm («سه شنبه 5 بهمن 1400 - 17:18» → 1400-11-05 17:18 Tehran time), but
newsrooms also write Gregorian («22 ژانویه 2009», «2019 Jun 19», ISO) and Hijri qamari
(«15 شعبان 1443») dates, with Persian, Arabic-Indic or Latin digits. The calendar is detected from
the month name and the year, never assumed: 1402 is Jalali, 2023 Gregorian, 1444 Hijri. Times are
Asia/Tehran (``zoneinfo``: +03:30, or +04:30 under the daylight saving Iran kept until 2022) and
stored in UTC.

The month, weekday and relative-word tables are data files under ``include/dates/``.
Hijri dates are converted with ``hijridate`` (Umm al-Qura); Iran's official Hijri calendar, fixed by
moon sighting, can differ from it by a day, so a Hijri-derived date carries a lower confidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import jdatetime

from khabar.paths import INCLUDE_DIR

TEHRAN = ZoneInfo("Asia/Tehran")
UTC = ZoneInfo("UTC")
EARLIEST = date(1990, 1, 1)  # the plausible window opens here; the run's day closes it
DATES_DIR = INCLUDE_DIR / "dates"

# Hijri dates come from Umm al-Qura tables; Iran's calendar may be a day off (see module docstring).
HIJRI_CONFIDENCE = 0.7
WEEKDAY_MISMATCH_FACTOR = 0.5
SOURCE_CONFIDENCE = {"html_meta": 1.0, "dateline": 0.95, "link": 0.95, "record_field": 0.8}
# Plausible years for a month name of each calendar; a year outside them means another calendar.
YEAR_RANGE = {"jalali": (1200, 1499), "gregorian": (1900, 2100), "hijri": (1343, 1500)}

# Folding keeps every character's position (one character for one), so a span found in the folded
# text is the same span in the original body.
_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_FOLD = str.maketrans(
    {"ي": "ی", "ى": "ی", "ك": "ک", "ة": "ه", "أ": "ا", "إ": "ا", "\u200c": " ", "\u200f": " ", "\u200e": " ", "\u00a0": " "}
)
_LETTER = r"[^\W\d_]"


def fold_text(text: str) -> str:
    """Digits to Latin, Arabic letters to Persian, ZWNJ to space, one character for one.

    >>> fold_text("سه‌شنبه ۵ بهمن ۱۴۰۰")
    'سه شنبه 5 بهمن 1400'
    """
    if text.isascii():
        return text  # nothing to fold
    for char, repl in _FOLD_PAIRS:
        if char in text:
            text = text.replace(char, repl)
    return text


# Both tables as (character, replacement) pairs, one character for one and no replacement a key of
# either: a replace per character present gives ``translate``'s result many times faster on Persian text.
_FOLD_PAIRS = tuple((chr(k), chr(v) if isinstance(v, int) else v) for table in (_DIGITS, _FOLD) for k, v in table.items())


# ------------------------------------------------------------------------------ tables (include/dates)


def _rows(name: str) -> list[list[str]]:
    lines = (DATES_DIR / name).read_text(encoding="utf-8").splitlines()
    return [line.split("\t") for line in lines if line.strip() and not line.startswith("#")]


def _name_pattern(names) -> str:
    """An alternation of names, longest first; a space in a name also matches no space or a ZWNJ."""
    folded = sorted({fold_text(n) for n in names}, key=len, reverse=True)
    return "|".join(re.escape(n).replace(r"\ ", r"\s*") for n in folded)


def _key(name: str) -> str:
    return re.sub(r"\s+", "", fold_text(name)).lower()


@dataclass(frozen=True)
class Tables:
    months: dict[str, tuple[str, int]]  # folded name without spaces → (calendar, month)
    month_names: dict[tuple[str, int], str]  # (calendar, month) → display name
    weekdays: dict[str, int]  # folded name without spaces → Python weekday
    weekday_names: dict[int, str]
    words: dict[str, tuple[int, float]]  # relative word → (days, confidence)
    dayparts: tuple[str, ...]


@lru_cache(maxsize=1)
def load_tables() -> Tables:
    """The month, weekday and relative-word tables of ``include/dates/``."""
    months, month_names = {}, {}
    for calendar, month, name in _rows("months.tsv"):
        months[_key(name)] = (calendar, int(month))
        month_names.setdefault((calendar, int(month)), name)
    weekdays, weekday_names = {}, {}
    for number, name in _rows("weekdays.tsv"):
        weekdays[_key(name)] = int(number)
        weekday_names.setdefault(int(number), name)
    words, dayparts = {}, []
    for row in _rows("relative.tsv"):
        if row[0] == "word":
            words[_key(row[1])] = (int(row[2]), float(row[3]))
        else:
            dayparts.append(row[1])
    return Tables(months, month_names, weekdays, weekday_names, words, tuple(dayparts))


@dataclass(frozen=True)
class Patterns:
    textual: re.Pattern
    latin_mdy: re.Pattern
    latin_ymd: re.Pattern
    numeric_ymd: re.Pattern
    numeric_dmy: re.Pattern
    relative: re.Pattern
    # Necessary conditions, each opening with a character class the engine jumps along: a text without
    # a match of the hint cannot match the pattern, which then is not run (its leading look-behind and
    # optional weekday make the engine try it at every character).
    textual_hint: re.Pattern  # a day number before a month name
    latin_hint: re.Pattern  # a letter a Latin month name can match (IGNORECASE: ASCII and İ ı ſ K)
    numeric_hint: re.Pattern  # a digit, a separator, a digit


@lru_cache(maxsize=1)
def _patterns() -> Patterns:
    t = load_tables()
    raw_months = [r[2] for r in _rows("months.tsv")]
    latin = [n for n in raw_months if n.isascii()]
    wd = _name_pattern(r[1] for r in _rows("weekdays.tsv"))
    months = _name_pattern(raw_months)
    words = _name_pattern(r[1] for r in _rows("relative.tsv") if r[0] == "word")
    dayparts = _name_pattern(t.dayparts)
    day, year = r"(?P<d>\d{1,2})", r"(?P<y>\d{4})"
    clock = r"(?:\s*(?:[-–—،,|T]\s*)?(?:ساعت\s*)?(?P<H>\d{1,2}):(?P<M>\d{2})(?::\d{2})?)?"
    weekday = rf"(?:(?P<wd>{wd})\s*[،,]?\s*)?"
    end = rf"(?!{_LETTER})"
    return Patterns(
        textual=re.compile(
            rf"(?<!{_LETTER}){weekday}(?<![\d/]){day}\s*(?:ام\s*)?(?P<m>{months})(?:\s*ماه)?{end}"
            rf"(?:\s*[،,]?\s*{year}(?!\d))?{clock}",
            re.IGNORECASE,
        ),
        latin_mdy=re.compile(
            rf"(?<![A-Za-z]){weekday}(?P<m>{_name_pattern(latin)})\.?\s+{day}(?:st|nd|rd|th)?,?\s+{year}(?!\d){clock}",
            re.IGNORECASE,
        ),
        latin_ymd=re.compile(rf"(?<!\d){year}\s+(?P<m>{_name_pattern(latin)})\.?\s+{day}(?!\d){clock}", re.IGNORECASE),
        numeric_ymd=re.compile(
            rf"(?<![\d/.\-]){weekday}{year}\s*(?P<sep>[/\-.])\s*(?P<m>\d{{1,2}})\s*(?P=sep)\s*{day}(?![\d/]){clock}"
        ),
        numeric_dmy=re.compile(
            rf"(?<![\d/.\-]){weekday}{day}\s*(?P<sep>[/\-.])\s*(?P<m>\d{{1,2}})\s*(?P=sep)\s*{year}(?![\d/]){clock}"
        ),
        relative=re.compile(
            rf"(?<!{_LETTER})(?:(?P<dp>{dayparts})\s*)?"
            rf"(?:(?P<rw>{words})(?:\s*\(\s*(?P<rwd>{wd})\s*\))?|(?P<wd>{wd})){end}"
        ),
        textual_hint=re.compile(rf"\d\s*(?:ام\s*)?(?:{months})", re.IGNORECASE),
        latin_hint=re.compile("[A-Za-z\u0130\u0131\u017f\u212a]"),
        numeric_hint=re.compile(r"\d\s*[/\-.]\s*\d"),
    )


# ------------------------------------------------------------------------------ calendars


def jalali_to_gregorian(year: int, month: int, day: int) -> date | None:
    """۱۴۰۰-۱۱-۰۵ → 2022-01-25; None when the day does not exist (e.g. 1401-12-30)."""
    try:
        return jdatetime.date(year, month, day).togregorian()
    except ValueError:
        return None


def hijri_to_gregorian(year: int, month: int, day: int) -> date | None:
    """15 شعبان 1443 → 2022-03-18 (Umm al-Qura); None outside hijridate's range or for a 30th that is not."""
    from hijridate import Hijri

    try:
        return date(*Hijri(year, month, day).to_gregorian().datetuple())
    except (ValueError, OverflowError):
        return None


def gregorian_day(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


CONVERT = {"jalali": jalali_to_gregorian, "gregorian": gregorian_day, "hijri": hijri_to_gregorian}


def to_jalali_text(day: date) -> str:
    """2022-01-25 → '1400-11-05'."""
    j = jdatetime.date.fromgregorian(date=day)
    return f"{j.year:04d}-{j.month:02d}-{j.day:02d}"


def numeric_calendar(year: int) -> str | None:
    """The calendar a four-digit year belongs to when no month name says: 1402 → jalali, 2023 →
    gregorian, 1444 → hijri. Jalali years up to 1409 (2031) and Hijri years from 1410 (1989) cannot
    be confused inside the plausible window."""
    if 1900 <= year <= 2100:
        return "gregorian"
    if 1300 <= year <= 1409:
        return "jalali"
    if 1410 <= year <= 1499:
        return "hijri"
    return None


# ------------------------------------------------------------------------------ finding dates


@dataclass(frozen=True)
class DateMatch:
    """A date written in text: its span (same in the folded and the original text), the Gregorian
    day it names, and how it was read.

    ``kind``: ``absolute`` (day, month and year written), ``partial`` (no year: resolved to the year
    nearest the reference day) or ``relative`` («دیروز», «شامگاه سه‌شنبه»: resolved against it).
    ``day`` is None for a partial or relative mention without a reference day.
    """

    start: int
    end: int
    surface: str
    day: date | None
    calendar: str  # jalali | gregorian | hijri | relative
    kind: str  # absolute | partial | relative
    hour: int | None
    minute: int | None
    weekday_ok: bool | None  # None when no weekday was written (or nothing to check it against)
    stated_weekday: str | None
    confidence: float

    @property
    def jalali(self) -> str | None:
        return to_jalali_text(self.day) if self.day else None


def _nearest_year(convert, year: int, month: int, day_no: int, reference: date) -> date | None:
    """The latest such day up to two months after the reference: news reports what happened, and
    announces what is coming soon («5 تیر» read on 1400-11-05 is 1400-04-05, not 1401-04-05)."""
    options = [d for y in (year - 1, year, year + 1) if (d := convert(y, month, day_no)) is not None]
    recent = [d for d in options if d <= reference + timedelta(days=60)]
    return max(recent) if recent else (min(options) if options else None)


def _reference_year(calendar: str, reference: date) -> int:
    if calendar == "jalali":
        return jdatetime.date.fromgregorian(date=reference).year
    if calendar == "hijri":
        from hijridate import Gregorian

        return Gregorian(reference.year, reference.month, reference.day).to_hijri().year
    return reference.year


def _clock(m: re.Match) -> tuple[int | None, int | None]:
    if m["H"] is not None and int(m["H"]) < 24 and int(m["M"]) < 60:
        return int(m["H"]), int(m["M"])
    return None, None


def _weekday(t: Tables, name: str | None, day: date | None) -> tuple[bool | None, str | None]:
    if not name:
        return None, None
    number = t.weekdays[_key(name)]
    return (None if day is None else number == day.weekday()), t.weekday_names[number]


# «می» and «مه» are also a verb prefix («می‌رسد») and a noun (fog): without a year they name May only
# when the sentence ends or pauses after them, or a time word follows.
_AMBIGUOUS_MONTHS = {"می", "مه"}
_AFTER_AMBIGUOUS = re.compile(r"\s*(?:$|[.،,؛;:!?)\]»\-–]|(?:ماه|گذشته|آینده|امسال|سال)(?!" + _LETTER + "))")


def _absolute(t: Tables, text: str, folded: str, m: re.Match, calendar: str, month: int, reference: date | None):
    day_no = int(m["d"])
    year = int(m["y"]) if m["y"] else None
    convert = CONVERT[calendar]
    confidence = 1.0
    if year is not None:
        low, high = YEAR_RANGE[calendar]
        if not low <= year <= high:
            return None  # the year does not belong to the month name's calendar
        day, kind = convert(year, month, day_no), "absolute"
    else:
        if calendar == "hijri" and month == 2:
            return None  # «صفر» without a year is the number zero far more often than the month
        day, kind, confidence = None, "partial", 0.8
        if reference is not None:
            day = _nearest_year(convert, _reference_year(calendar, reference), month, day_no, reference)
            if day is None:
                return None
        elif not 1 <= day_no <= 31:
            return None
    if year is not None and day is None:
        return None  # a day that does not exist: not a date
    if calendar == "hijri":
        confidence *= HIJRI_CONFIDENCE
    hour, minute = _clock(m)
    weekday_ok, stated = _weekday(t, m.groupdict().get("wd"), day)
    if weekday_ok is False and calendar == "hijri":
        # Iran's month may begin a day before or after Umm al-Qura's: a stated weekday one day off
        # names Iran's day («سه‌شنبه 1 رمضان 1445» is 2024-03-12, Umm al-Qura's 1 Ramadan a Monday).
        for shift in (1, -1):
            if (day + timedelta(days=shift)).weekday() == t.weekdays[_key(m["wd"])]:
                day, weekday_ok = day + timedelta(days=shift), True
                break
    if weekday_ok is False:
        confidence *= WEEKDAY_MISMATCH_FACTOR
    return DateMatch(m.start(), m.end(), text[m.start():m.end()], day, calendar, kind, hour, minute, weekday_ok, stated,
                     round(confidence, 3))


def _textual(t, text, folded, m, reference):
    calendar, month = t.months[_key(m["m"])]
    name = fold_text(m["m"])
    if name in _AMBIGUOUS_MONTHS and not m["y"]:
        after = m.start("m") + len(m["m"])
        if (after < len(text) and text[after] == "\u200c") or not _AFTER_AMBIGUOUS.match(folded, after):
            return None
    return _absolute(t, text, folded, m, calendar, month, reference)


def _numeric(t, text, folded, m, reference, day_first: bool):
    calendar = numeric_calendar(int(m["y"]))
    if calendar is None:
        return None
    first, second = int(m["d"]), int(m["m"])  # as written: day/month, or month/day in American use
    if calendar == "gregorian" and day_first and first <= 12 and second > 12:
        return _american(t, text, m, month=first, day_no=second)  # «06/19/2019»: 19 cannot be a month
    if not 1 <= second <= 12:
        return None
    found = _absolute(t, text, folded, m, calendar, second, reference)
    if found and calendar == "gregorian" and day_first and first <= 12 and first != second:
        # D/M/Y read the Persian and European way; an American M/D/Y would name another day
        found = replace(found, confidence=round(found.confidence * 0.9, 3))
    return found


def _american(t, text, m, month: int, day_no: int) -> DateMatch | None:
    day = gregorian_day(int(m["y"]), month, day_no)
    if day is None:
        return None
    hour, minute = _clock(m)
    weekday_ok, stated = _weekday(t, m.groupdict().get("wd"), day)
    confidence = 0.9 * (WEEKDAY_MISMATCH_FACTOR if weekday_ok is False else 1.0)
    return DateMatch(m.start(), m.end(), text[m.start():m.end()], day, "gregorian", "absolute", hour, minute, weekday_ok,
                     stated, confidence)


def _relative(t: Tables, text: str, m: re.Match, reference: date | None) -> DateMatch | None:
    if m["rw"]:
        days, confidence = t.words[_key(m["rw"])]
        day = reference + timedelta(days=days) if reference else None
        weekday_ok, stated = _weekday(t, m["rwd"], day)
    else:
        # A weekday alone («شامگاه سه‌شنبه»): the latest such day on or before the reference; news
        # mostly reports what has happened, so this is right more often than the next one.
        number = t.weekdays[_key(m["wd"])]
        day = reference - timedelta(days=(reference.weekday() - number) % 7) if reference else None
        confidence, weekday_ok, stated = 0.6, None, t.weekday_names[number]
    if weekday_ok is False:
        confidence *= WEEKDAY_MISMATCH_FACTOR
    return DateMatch(m.start(), m.end(), text[m.start():m.end()], day, "relative", "relative", None, None, weekday_ok,
                     stated, round(confidence, 3))


def find_dates(text: str, reference: date | None = None, relative: bool = True) -> list[DateMatch]:
    """Every date written in ``text``, in order of position; spans index into ``text`` itself.

    Absolute dates are always read. Dates without a year («21 می», «5 بهمن») and relative words
    («امروز (سه‌شنبه)», «ظهر دیروز», «شامگاه سه‌شنبه», «هفته گذشته») are resolved against
    ``reference`` (the publication day); without one their ``day`` is None. ``relative=False``
    leaves out relative words.

    >>> [d.jalali for d in find_dates("سه شنبه 5 بهمن 1400 - 17:18")]
    ['1400-11-05']
    >>> [d.jalali for d in find_dates("ظهر دیروز", reference=date(2022, 1, 25))]
    ['1400-11-04']
    >>> [(d.calendar, d.day.isoformat()) for d in find_dates("15 شعبان 1443")]
    [('hijri', '2022-03-18')]
    """
    t, p = load_tables(), _patterns()
    folded = fold_text(text)
    found: list[DateMatch] = []

    def add(dm: DateMatch | None) -> None:
        if dm is not None and not any(f.start < dm.end and dm.start < f.end for f in found):
            found.append(dm)

    if p.textual_hint.search(folded):
        for m in p.textual.finditer(folded):
            add(_textual(t, text, folded, m, reference))
    if p.latin_hint.search(folded):
        for m in p.latin_mdy.finditer(folded):
            add(_absolute(t, text, folded, m, *t.months[_key(m["m"])], reference))
        for m in p.latin_ymd.finditer(folded):
            add(_absolute(t, text, folded, m, *t.months[_key(m["m"])], reference))
    if p.numeric_hint.search(folded):
        for m in p.numeric_ymd.finditer(folded):
            add(_numeric(t, text, folded, m, reference, day_first=False))
        for m in p.numeric_dmy.finditer(folded):
            add(_numeric(t, text, folded, m, reference, day_first=True))
    if relative:
        for m in p.relative.finditer(folded):
            add(_relative(t, text, m, reference))
    return sorted(found, key=lambda d: d.start)


def is_dateline(line: str) -> bool:
    """A short line that is only a date (a header dateline), e.g. «دوشنبه 5 آذر 1403»."""
    folded = fold_text(line).strip()
    if not folded or len(folded.split()) > 12:
        return False
    spans = [d for d in find_dates(folded, relative=False) if d.kind == "absolute"]
    if not spans:
        return False
    covered = sum(d.end - d.start for d in spans)
    return covered >= 0.7 * len(folded.replace(" ", "")) or covered >= len(folded) - 6


def header_datelines(raw_text: str, datelines: list[str], body: str) -> list[str]:
    r"""The datelines that stand before the body in the document as read: a publication date sits in
    the header, while a date line after the text («15/7/1383» under a message quoted in full) dates
    something else. A dateline whose place cannot be found is kept.

    >>> header_datelines("عنوان\nسه شنبه 5 بهمن 1400\nمتن خبر\n15/7/1383", ["سه شنبه 5 بهمن 1400", "15/7/1383"], "متن خبر")
    ['سه شنبه 5 بهمن 1400']
    """
    if not datelines:  # nothing to place: the raw text is not folded (it was 0.25 s of CPU per 4,000 documents)
        return []

    def key(text: str) -> str:  # the strip step may have folded letters and spaces in its lines
        return re.sub(r"\s+", " ", fold_text(text).replace("\\n", " "))

    raw = key(raw_text)
    first = next((ln.strip() for ln in body.split("\n") if ln.strip()), "")
    # a prefix of the first body line, cut before anything JSON would escape
    probe = re.split(r'["\\]', key(first))[0][:40].strip()
    body_at = raw.find(probe) if probe else -1
    if body_at < 0:
        return list(datelines)
    return [d for d in datelines if not 0 <= body_at < raw.find(key(d).strip())]


# ------------------------------------------------------------------------------ publication date


def _local(day: date, hour: int | None, minute: int | None) -> datetime:
    return datetime.combine(day, time(hour or 0, minute or 0), tzinfo=TEHRAN)


@dataclass(frozen=True)
class DateResult:
    published_at: datetime | None
    published_jalali: str | None
    source: str  # html_meta | dateline | link | record_field | none
    evidence: str | None
    reason: str | None  # why the date is null, or which evidence was rejected before it
    confidence: float | None = None
    calendar: str | None = None  # the calendar the evidence was written in
    weekday_mismatch: str | None = None  # «stated دوشنبه, but 1400-11-05 is سه شنبه»


@dataclass(frozen=True)
class Candidate:
    source: str
    evidence: str
    when: datetime
    calendar: str
    confidence: float
    weekday_mismatch: str | None = None


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
    if numeric_calendar(parsed.year) != "gregorian":
        return None  # «1400-11-05T10:30» is Jalali written the ISO way, not the year 1400 AD
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=TEHRAN)


# A news id as a path segment or a file name: «/news/8707060313», «/13960807000572/slug», «13990512000111.html».
FARS_ID = re.compile(r"(?:^|[/_-])(?P<id>\d{10}|1[34]\d{12})(?=[/?#._-]|$)")
# Fars's earliest ids (late 1382) start with «60» instead of the year: 6010060837 is a report of
# 6 Dey 1382, the day after the Bam earthquake; 6011171295 the sixth day of the 22nd Fajr festival,
# 17 Bahman 1382. Read as 1382 with a lower confidence, since no documentation states the rule.
FARS_SERIES = {"60": (1382, 0.6)}


def fars_link_date(link: str) -> tuple[date, float] | None:
    """The Jalali day a Fars news id carries, and how sure we are of it.

    >>> fars_link_date("https://www.farsnews.ir/news/8707060313")
    (datetime.date(2008, 9, 27), 1.0)
    >>> to_jalali_text(fars_link_date("https://www.farsnews.ir/news/13960807000572/x")[0])
    '1396-08-07'
    """
    m = FARS_ID.search(link)
    if not m:
        return None
    digits, confidence = m["id"], 1.0
    if len(digits) == 10:  # yymmdd + serial
        year = 1300 + int(digits[:2])
        if digits[:2] in FARS_SERIES:
            year, confidence = FARS_SERIES[digits[:2]]
        elif not 81 <= int(digits[:2]) <= 99:
            return None  # Fars began in 1381; another two-digit prefix is not a year we know
        month, day_no = int(digits[2:4]), int(digits[4:6])
    else:  # yyyymmdd + serial
        year, month, day_no = int(digits[:4]), int(digits[4:6]), int(digits[6:8])
    greg = jalali_to_gregorian(year, month, day_no) if 1 <= month <= 12 else None
    return (greg, confidence) if greg else None


def _mismatch(dm: DateMatch) -> str | None:
    if dm.weekday_ok is not False or dm.day is None:
        return None
    actual = load_tables().weekday_names[dm.day.weekday()]
    return f"stated {dm.stated_weekday}, but {to_jalali_text(dm.day)} ({dm.day.isoformat()}) is {actual}"


def _from_text(source: str, text: str) -> list[Candidate]:
    out = []
    for dm in find_dates(text, relative=False):
        if dm.kind == "absolute":
            when = _local(dm.day, dm.hour, dm.minute)
            out.append(Candidate(source, text, when, dm.calendar, SOURCE_CONFIDENCE[source] * dm.confidence, _mismatch(dm)))
    return out


def candidates(meta: dict, datelines: list[str], source_path: str) -> list[Candidate]:
    """Evidence in order of trust: HTML metadata, header datelines, link or file name, record field."""
    out: list[Candidate] = []
    for key in ("published_time", "date_published", "time_datetime"):
        value = meta.get(key)
        if isinstance(value, str):
            if when := _from_iso(value):
                out.append(Candidate("html_meta", value, when, "gregorian", SOURCE_CONFIDENCE["html_meta"]))
            else:  # a Jalali «1400/11/05 17:18» in a <time datetime> is still metadata
                out += _from_text("html_meta", value)
    for line in datelines:
        out += _from_text("dateline", line)
    for text in (meta.get("link"), source_path):
        if isinstance(text, str) and (found := fars_link_date(text)):
            out.append(Candidate("link", text, _local(found[0], None, None), "jalali", SOURCE_CONFIDENCE["link"] * found[1]))
    field = meta.get("date")
    if isinstance(field, str):
        # ISO first: it carries its UTC offset («...21:00:00Z»), which the text patterns do not read.
        if when := _from_iso(field):
            out.append(Candidate("record_field", field, when, "gregorian", SOURCE_CONFIDENCE["record_field"]))
        else:
            out += _from_text("record_field", field)
    return out


def tag_date(meta: dict, datelines: list[str], source_path: str, run_day: date) -> DateResult:
    """The publication date from the best evidence that passes the guards; null with a reason.

    >>> tag_date({}, ["سه شنبه 5 بهمن 1400 - 17:18"], "a.txt", date(2022, 1, 25)).published_jalali
    '1400-11-05'
    """
    rejected: list[str] = []
    for c in candidates(meta, datelines, source_path):
        if (why := _check(c.when, run_day)) is not None:
            rejected.append(f"{c.source}: {why}")
            continue
        local = c.when.astimezone(TEHRAN)
        return DateResult(c.when.astimezone(UTC), to_jalali_text(local.date()), c.source, c.evidence,
                          "; ".join(rejected) or None, round(c.confidence, 3), c.calendar, c.weekday_mismatch)
    reason = "; ".join(rejected) if rejected else "no date found in metadata, header lines, link or record"
    return DateResult(None, None, "none", None, reason)


def tag_mentions(body: str, published_at: datetime | None) -> list[DateMatch]:
    """Every date the body mentions, relative ones resolved against the Tehran day of publication.

    >>> [(m.surface, m.jalali) for m in tag_mentions("عصر امروز (سه‌شنبه) گفت", datetime(2022, 1, 25, 13, 48, tzinfo=UTC))]
    [('عصر امروز (سه\u200cشنبه)', '1400-11-05')]
    """
    reference = published_at.astimezone(TEHRAN).date() if published_at else None
    return find_dates(body, reference=reference)


# ------------------------------------------------------------------------------ calendar dimension


def calendar_row(day: date) -> tuple:
    """One row of ``reporting.calendar``: the Jalali parts of a Gregorian day and its
    Saturday-start week (Iran's week): week 1 of a Jalali year is the week holding 1 Farvardin.

    >>> calendar_row(date(2022, 1, 25))[1:7]
    ('1400-11-05', 1400, 11, 'بهمن', 5, 'سه شنبه')
    """
    t = load_tables()
    j = jdatetime.date.fromgregorian(date=day)
    saturday_index = (day.weekday() - 5) % 7  # Saturday 0 … Friday 6
    week_start = day - timedelta(days=saturday_index)
    nowruz = jdatetime.date(j.year, 1, 1).togregorian()
    first_week_start = nowruz - timedelta(days=(nowruz.weekday() - 5) % 7)
    week_of_year = (week_start - first_week_start).days // 7 + 1
    return (day, f"{j.year:04d}-{j.month:02d}-{j.day:02d}", j.year, j.month, t.month_names[("jalali", j.month)], j.day,
            t.weekday_names[day.weekday()], saturday_index + 1, week_start, week_of_year)
