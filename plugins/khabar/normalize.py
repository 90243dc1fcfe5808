"""Persian normalization: hazm's Normalizer, with protected spans and half-space restoration.

``normalize_text`` is a pure, deterministic, idempotent ``str -> str``. Policy:
- Arabic letters and digits become Persian (ي→ی, ك→ک, ٤→۴); diacritics and tatweel go;
- the body carries Persian digits throughout (Latin digits inside URLs, e-mails and Latin words stay);
- URLs, e-mails, numbers with separators, dates and times pass through hazm untouched
  (hazm would write «www. example. com» and «۱۴۰۲ / ۰۷ / ۱۵»);
- half-spaces (ZWNJ) stripped by scrapers are restored where hazm's lexicon supports it:
  «همکاریهای» → «همکاری‌های», «سهشنبه» → «سه‌شنبه», «بهطور» → «به‌طور».
"""

from __future__ import annotations

import re
from functools import lru_cache

ZWNJ = "\u200c"
_SPACES = re.compile(r"[ \t]+")
_PUA = 0xE000  # placeholders for protected spans: private-use characters hazm leaves alone
_TO_PERSIAN_DIGITS = str.maketrans("0123456789٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹۰۱۲۳۴۵۶۷۸۹")
_D = r"[0-9۰-۹٠-٩]"
PROTECTED = re.compile(
    r"(?:https?://|www\.)[^\s<>«»\"']+[^\s<>«»\"'.,،؛:)\]]"  # URLs
    r"|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"  # e-mails
    rf"|{_D}{{1,4}}[/\-.]{_D}{{1,2}}[/\-.]{_D}{{1,4}}"  # dates 1402/07/15, 2023-10-07
    rf"|{_D}{{1,2}}:{_D}{{2}}(?::{_D}{{2}})?"  # times 17:18
    rf"|{_D}+(?:[.,٫٬]{_D}+)+"  # numbers with separators 3.5, 1,200
    r"|[A-Za-z][A-Za-z0-9_\-.]*[A-Za-z0-9]"  # Latin words (ICT, COVID-19)
)
# Non-joining letters: no ZWNJ after them (hazm issue #367 adds one wrongly).
NON_JOINING = set("اآأإدذرزژوؤة")
SUFFIXES = ("هایشان", "هایتان", "هایمان", "هایی", "هایش", "هایم", "هایت", "های", "ها", "ترین", "تر")
AFTER_HEH = ("اند", "ایم", "اید", "ای", "ام", "اش", "ات")  # «خورده‌اند», «خانه‌ای»
_TOKEN = re.compile(r"[\u0600-\u06FF\u200c]+")
# A ZWNJ belongs between two letters; anywhere else (by spaces, punctuation, ends) it is noise.
_STRAY_ZWNJ = re.compile(r"\u200c+(?=[^\w]|$)|(?:^|(?<=[^\w]))\u200c+|\u200c{2,}")


@lru_cache(maxsize=1)
def _normalizer():
    from hazm import Normalizer  # heavy (pulls nltk): built once per process, on first use

    return Normalizer(
        correct_spacing=True,
        remove_diacritics=True,
        remove_specials_chars=True,
        decrease_repeated_chars=True,
        persian_style=True,
        persian_numbers=True,
        unicodes_replacement=True,
        seperate_mi=True,
    )


@lru_cache(maxsize=1)
def _lexicon() -> tuple[frozenset[str], dict[str, str]]:
    """hazm's word list, and every ZWNJ compound keyed by its joined spelling."""
    from hazm.utils import words_list

    words = frozenset(w[0] for w in words_list())
    joined: dict[str, str] = {}
    for word in words:
        if ZWNJ in word:
            plain = word.replace(ZWNJ, "")
            if plain not in words:
                joined.setdefault(plain, word)
    return words, joined


def restore_zwnj(token: str) -> str:
    """Put back a half-space the lexicon supports; otherwise return the token unchanged.

    >>> restore_zwnj("همکاریهای")
    'همکاری\u200cهای'
    >>> restore_zwnj("کتاب")
    'کتاب'
    """
    words, joined = _lexicon()
    if token in words or ZWNJ in token:
        return token
    if token in joined:
        return joined[token]
    for suffix in SUFFIXES:
        stem = token[: -len(suffix)]
        if token.endswith(suffix) and len(stem) >= 2 and stem[-1] not in NON_JOINING and stem in words:
            return f"{stem}{ZWNJ}{suffix}"
    for suffix in AFTER_HEH:
        stem = token[: -len(suffix)]
        if token.endswith(suffix) and len(stem) >= 3 and stem.endswith("ه") and stem in words:
            return f"{stem}{ZWNJ}{suffix}"
    return token


def _protect(text: str) -> tuple[str, list[str]]:
    spans: list[str] = []

    def keep(m: re.Match) -> str:
        spans.append(m.group(0))
        return chr(_PUA + len(spans) - 1)

    text = re.sub(f"[{chr(_PUA)}-{chr(_PUA + 0x18FF)}]", "", text)  # no stray placeholders in input
    return PROTECTED.sub(keep, text), spans


def _restore(text: str, spans: list[str]) -> str:
    def put(m: re.Match) -> str:
        span = spans[ord(m.group(0)) - _PUA]
        if re.fullmatch(r"[\d۰-۹٠-٩/\-.:,٫٬]+", span):
            return span.translate(_TO_PERSIAN_DIGITS)  # dates, times, numbers follow the digit policy
        return span

    return re.sub(f"[{chr(_PUA)}-{chr(_PUA + 0x18FF)}]", put, text)


def normalize_text(text: str) -> str:
    """Normalize Persian text; raw text is kept elsewhere, this returns the clean form.

    >>> normalize_text("همکاریهای نظامی ايران توسعه مییابد")
    'همکاری\u200cهای نظامی ایران توسعه می\u200cیابد'
    """
    if not text:
        return ""
    protected, spans = _protect(text)
    lines = []
    for line in protected.split("\n"):
        line = _normalizer().normalize(line)
        line = _TOKEN.sub(lambda m: restore_zwnj(m.group(0)), line)
        lines.append(_SPACES.sub(" ", _STRAY_ZWNJ.sub("", line)).strip())
    return _restore("\n".join(ln for ln in lines if ln), spans)
