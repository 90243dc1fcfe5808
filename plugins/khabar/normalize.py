"""Persian normalization: hazm's tables and lexicon, protected spans, half-space restoration.

``normalize_text`` is a pure, deterministic, idempotent ``str -> str`` (the raw text is kept in
``raw_text`` by the pipeline). It is built once per process from one hazm ``Normalizer`` created with
fixed options (``HAZM_OPTIONS``): hazm supplies what it does well, its character tables (Arabic and
presentation forms to Persian, diacritics, special marks, ligatures such as «ﷲ»), its punctuation
spacing rules, its word list ``words.dat`` and its verb conjugations. hazm's own ``normalize()`` is
not called on the text: it tokenizes every line and rescans for «می» verbs, which made it the slow
part, and its spacing step adds half-spaces after non-joining letters (hazm issue #367) and cannot
restore the ones a scraper stripped. Its tables are folded here into one ``str.translate`` table and
a few regexes compiled once.

Policy:
- Arabic letters and digits become Persian (ي→ی, ك→ک, ة→ه, ٤→۴); diacritics, tatweel, control and
  bidi-control characters, lone surrogates and zero-width characters other than ZWNJ go;
  runs of spaces, of the same punctuation mark («!!!», «؟؟») and of dots («....» → «…») collapse.
- **Digits**: the body carries Persian digits throughout (``۱۴۰۰``); Latin digits stay only inside
  protected URLs, e-mails and Latin words («COVID-19»). Numbers that SQL users compute with (years,
  the Jalali date) are not read back from the body: they are columns of their own
  (``published_at``, ``published_jalali``, ``word_count``).
- **Protected spans** pass through untouched (hazm writes «www. example. com» and
  «۱۴۰۲ / ۰۷ / ۱۵»): URLs, e-mails, Latin words, and dates, times and numbers with separators,
  whose digits follow the digit policy and whose separators stay («۱۴۰۲/۰۷/۱۵», «۳.۵», «۱۷:۱۸»).
- **Half-spaces**: a ZWNJ is kept only between two letters and never after a non-joining letter
  («کشورها», not «کشور‌ها»); a stripped one is restored where hazm's lexicon supports exactly one
  reading («همکاریهای» → «همکاری‌های», «مییابد» → «می‌یابد», «کتاب ها» → «کتاب‌ها»). When two readings
  compete («خانهای»: «خانه‌ای» or «خان‌های») the token is left as written, unless words.dat counts
  one reading's stem ``AMBIGUITY_RATIO`` times the other's («سالهای» → «سال‌های», not «ساله‌ای»):
  a missing half-space costs less than a wrong one. Solid spellings that are standard as well
  («آنها», «مهمترین», «پیشگیری») are not rewritten, and compounds written with a space
  («رئیس جمهور») keep it; affixes written with a space are joined («می شود», «کتاب ها», «هسته ای»).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import unicodedata
from functools import lru_cache
from pathlib import Path

ZWNJ = "\u200c"
HAZM_OPTIONS = {  # fixed: every table we take from hazm is the one these options build
    "correct_spacing": True,
    "remove_diacritics": True,
    "remove_specials_chars": True,
    "decrease_repeated_chars": True,
    "persian_style": True,
    "persian_numbers": True,
    "unicodes_replacement": True,
    "seperate_mi": True,
}
LETTERS = "آابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهیءأإؤئ"
# Non-joining letters: a ZWNJ after them is invisible noise (and hazm issue #367 adds it wrongly).
NON_JOINING = frozenset("اآأإدذرزژوؤءة")
# Suffixes written after a half-space; the stem decides whether a half-space is visible.
PLURAL = ("هایشان", "هایتان", "هایمان", "هایی", "هایش", "هایم", "هایت", "های", "ها")
COMPARATIVE = ("ترین", "تر")
SOLID_SUFFIXES = ("ان", "گان", "ی", "یان")  # joined to the stem without a half-space
# Solid spellings that the corpus and words.dat write that way far more often than with a
# half-space: «آنها» 1,291 times against «آن‌ها» 205 in ../shared/corpus paragraphs.
SOLID_BY_CONVENTION = frozenset({"آنها", "اینها", "آنهایی", "اینهایی", "آنکه", "اینکه", "چنانکه", "آنچه"})
# A final «ه» is mostly the silent one («سه», «به», «خانه», «سرمایه»), which must not join the next
# letter; after «ا» and in a few common words it is a consonant («راه», «کوه») and «راهیابی» is standard.
_SILENT_HEH = re.compile("(?<!ا)ه$")
CONSONANT_HEH = frozenset({"کوه", "گروه", "شکوه", "انبوه", "ستوه", "فقیه", "شبیه", "ره", "گنه", "مه", "که", "چه"})
# Two readings of one token («منطقهای»: «منطقه‌ای» or «منطق‌های») are settled by the stems' counts in
# words.dat only when one is this many times the other; otherwise the token is left as written.
AMBIGUITY_RATIO = 20
AFTER_HEH = ("اند", "اید", "ایم", "ای", "ام", "اش", "ات")  # «خورده‌اند», «خانه‌اش»
_PUA = 0xE000  # placeholders for protected spans: private-use characters nothing below touches
_PUA_RE = re.compile(f"[{chr(_PUA)}-{chr(_PUA + 0x18FF)}]")
_D = r"[0-9۰-۹٠-٩]"
PROTECTED = re.compile(
    r"(?:https?://|www\.)[^\s<>«»\"'\u0600-\u06ff\u200c]+[^\s<>«»\"'.,،؛:)\]\u0600-\u06ff\u200c]"  # URLs (ASCII)
    r"|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"  # e-mails
    rf"|{_D}{{1,4}}[/\-.]{_D}{{1,2}}[/\-.]{_D}{{1,4}}"  # dates 1402/07/15, 2023-10-07
    rf"|{_D}{{1,2}}:{_D}{{2}}(?::{_D}{{2}})?"  # times 17:18
    rf"|{_D}+(?:[.,٫٬]{_D}+)+"  # numbers with separators 3.5, 1,200
    r"|[A-Za-z][A-Za-z0-9_\-.]*[A-Za-z0-9]"  # Latin words (ICT, COVID-19)
)
# Every branch of PROTECTED opens with one of these characters: its matches are searched only where
# one stands (``_protect``), not tried at every character of the text.
_PROTECTED_START = re.compile(r"[A-Za-z0-9._%+\-۰-۹٠-٩]")
_NUMERIC_SPAN = re.compile(r"[\d۰-۹٠-٩/\-.:,٫٬]+")
_TO_PERSIAN_DIGITS = str.maketrans("0123456789٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹۰۱۲۳۴۵۶۷۸۹")

_L = f"[{LETTERS}]"
# A ZWNJ run not between two letters, after a non-joining letter, or longer than one. Written as
# «(?<!L)\u200c+|\u200c+(?!L)|(?<=[NJ])\u200c+|\u200c{2,}»; each branch here opens with the ZWNJ it
# consumes (its look-behind moved after it), the same matches, so the engine jumps from ZWNJ to ZWNJ
# instead of trying the look-behinds at every character.
_STRAY_ZWNJ = re.compile(
    rf"\u200c(?:(?<!{_L}\u200c)\u200c*|\u200c*(?!{_L})|(?<=[{''.join(NON_JOINING)}]\u200c)\u200c*|\u200c+)"
)
_SPACES = re.compile(r"[ \t]+")
# A direction mark between two letters is a half-space some editors type («برنامه\u200eهای»).
_ARABIC_SCRIPT = "\u0621-\u064a\u066e-\u06d3\u06d5\u06fa-\u06ff"
# Before protection, a ZWNJ that is not between two letters of the script goes (else it would sit
# between two protected spans in one pass and be gone, gluing them, in the next).
# «(?<![S])\u200c+|\u200c+(?![S])», each branch opening with its ZWNJ (as _STRAY_ZWNJ).
_STRAY_ZWNJ_RAW = re.compile(f"\u200c(?:(?<![{_ARABIC_SCRIPT}]\u200c)\u200c*|\u200c*(?![{_ARABIC_SCRIPT}]))")
_MARK_AS_ZWNJ = re.compile(r"(?<=[\u0621-\u064a\u0671-\u06d3])[\u200e\u200f]+(?=[\u0621-\u064a\u0671-\u06d3])")
# A lexicon spelling whose every half-space sits between a joining letter and a letter.
_WELL_PLACED = re.compile(rf"{_L}+(?:(?<![{''.join(NON_JOINING)}])\u200c{_L}+)+")
_SPACE_AROUND_NL = re.compile(r" *\n[ \n]*")
_REPEATED_PUNCT = re.compile(r"([!؟?،,؛;:«»()\[\]-])\1+")
_DOTS = re.compile(r"\.{3,}|…[.…]*")
_REPEATED_LETTER = re.compile(rf"{_L}*({_L})\1{{2,}}{_L}*")
_TRIPLE = re.compile(rf"({_L})\1\1")
# A run of letters and ZWNJs: only runs without a ZWNJ are re-spelled, so a token the restorer
# produced («همکاری‌های») is never split again (idempotency).
_WORD = re.compile(f"[{LETTERS}\u200c]+")
_WORD_SPLIT = re.compile(f"([{LETTERS}\u200c]+)")  # the same runs, kept by re.split at the odd places
_DIGIT = re.compile(r"\d")
_SUFFIX_PAIR = re.compile(
    rf"(?<![{LETTERS}\u200c])({_L}{{2,}}) ({'|'.join(PLURAL + COMPARATIVE)})(?![{LETTERS}\u200c])"
)
_HEH_PAIR = re.compile(rf"(?<![{LETTERS}\u200c])({_L}+ه) ({'|'.join(AFTER_HEH)})(?![{LETTERS}\u200c])")
_MI_PAIR = re.compile(rf"(?<![{LETTERS}\u200c])(ن?می) ({_L}+)(?![{LETTERS}\u200c])")


# hazm's punctuation spacing patterns that open with a class matching almost any character (so the
# engine starts a match at every position), and the same rule written with a look-behind: the pair
# (x, y) is matched at y, so the scan jumps to the rare y. Candidate pairs can never overlap (x and y
# come from disjoint classes), so both forms change the same places. Patterns not listed run as hazm
# writes them.
_FASTER_PUNCTUATION = {
    ("([^ «\\[\\(\\{])([«\\[\\(\\{])", "\\1 \\2"): ("(?<=[^ «\\[\\(\\{])([«\\[\\(\\{])", " \\1"),
    ("([آابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهی])(\\d)", "\\1 \\2"): ("(?<=[آابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهی])(\\d)", " \\1"),
}


def _changes(cp: int, repl) -> bool:
    """Whether a ``str.translate`` table entry changes its character."""
    return repl is None or (chr(repl) if isinstance(repl, int) else repl) != chr(cp)


def _char_class(code_points) -> str:
    return "[" + "".join(re.escape(chr(cp)) for cp in sorted(code_points)) + "]"


def _control_chars() -> dict[int, None]:
    """Every control, format and surrogate code point of the BMP except ZWNJ, newline and tab."""
    drop = {}
    for cp in range(0x10000):
        if chr(cp) in "\n\t\u200c":
            continue
        if unicodedata.category(chr(cp)) in ("Cc", "Cf", "Cs") and not (_PUA <= cp < _PUA + 0x1900):
            drop[cp] = None
    return drop


def _build_joined(words, verbs: frozenset[str]) -> tuple[dict[str, str], set[str]]:
    """The half-space spellings of words.dat and the verb list that a joined spelling may not
    replace, keyed by that joined spelling; a joined form claimed by two spellings is dropped.
    Also every such spelling with its half-spaces taken out (a known stem, written solid or not).

    Kept: verb forms («می‌یابد», «خورده‌اند»), compounds with a half-space after a silent «ه»
    (written solid, «سهشنبه» and «بهطور» read as other words), before «آ», «ال» or «و»
    («دانش‌آموز», «بین‌المللی», «گفت‌وگو») and compounds ending in a suffix («زمین‌لرزه‌ای»).
    Left out: other compounds, whose solid spelling is also standard («پیشگیری», «یکبار»,
    «میلیمتر»), and spellings with a one-letter piece («ه‌ای»).
    """
    joined: dict[str, str] = {}
    solid_compounds: set[str] = set()
    clash: set[str] = set()
    for word in list(words) + sorted(verbs):
        if ZWNJ not in word or not _WELL_PLACED.fullmatch(word):
            continue
        pieces = word.split(ZWNJ)
        solid_compounds.add("".join(pieces))
        if min(len(p) for p in pieces if p != "و") < 2 or pieces[0] == "و" or pieces[-1] == "و":
            continue  # «ه‌ای» is no word; «گفت‌و‌گو» is
        suffixed = pieces[-1] in PLURAL or (pieces[-1] in AFTER_HEH and pieces[-2].endswith("ه"))
        silent = any(_SILENT_HEH.search(p) and p not in CONSONANT_HEH for p in pieces[:-1])
        # «آ» inside a word and a solid Arabic article («بینالمللی») are not standard spellings,
        # and «گفتوگو», «جستوجو» hide the «و» between the two halves
        unjoinable = any(p.startswith(("آ", "ال", "و")) for p in pieces[1:]) or "و" in pieces[1:-1]
        if not (word in verbs or suffixed or silent or unjoinable):
            continue
        plain = "".join(pieces)
        if plain in joined and joined[plain] != word:
            clash.add(plain)
        joined[plain] = word
    for plain in clash:
        del joined[plain]
    return joined, solid_compounds


def build_tables() -> dict:
    """What ``PersianNormalizer`` takes from hazm, built from hazm itself (its import, the ``Normalizer``
    with ``HAZM_OPTIONS``, its word list and verb conjugations: seconds), as plain data: the
    ``str.translate`` table, the sources of the regexes, words.dat, the verb forms and the half-space
    spellings derived from them."""
    from hazm import Normalizer  # heavy (nltk, the lexicon, the lemmatizer's conjugations)

    hazm = Normalizer(**HAZM_OPTIONS)
    controls = _control_chars()
    table: dict[int, str | None] = dict(controls)
    table.update(str.maketrans(hazm.translation_src, hazm.translation_dst))
    table.update(str.maketrans(hazm.number_translation_src, hazm.number_translation_dst))
    for pattern, _ in hazm.diacritics_patterns + hazm.specials_chars_patterns:
        for ch in re.findall(r"[^\[\]]", pattern):
            table[ord(ch)] = None
    for pattern, repl in hazm.replacements:  # single ligatures («ﷲ», «ﻻ») become words
        for ch in pattern.strip("()").split("|"):
            table[ord(ch)] = repl
    for ch in "\u0640\r":  # tatweel, carriage return
        table[ord(ch)] = None
    table.update({ord(ch): " " for ch in "\t\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"})
    table[ord("ى")] = "ی"
    table[ord("ة")] = "ه"
    table[ord("ٱ")] = "ا"  # alef wasla: Arabic only («ۀ» stays: it is Persian)
    tags: dict[tuple[str, ...], tuple[str, ...]] = {}  # one tuple per tag set: a smaller cache file
    words = {word: (count, tags.setdefault(tuple(t), tuple(t))) for word, (count, t) in hazm.words.items()}
    verbs = frozenset(v for v in hazm.verbs if " " not in v)
    joined, solid_compounds = _build_joined(words, verbs)
    return {
        "table": table,
        "controls": "[" + "".join(re.escape(chr(cp)) for cp in sorted(controls)) + "]+",
        "punctuation": [(p, r) for p, r in hazm.punctuation_spacing_patterns],
        "quotes": hazm.persian_style_patterns[0][0],
        "words": words,
        "verbs": verbs,
        "solid_compounds": solid_compounds,
        "joined": joined,
    }


CACHE_FORMAT = 1  # bump when the shape of ``build_tables``' result changes


def cache_dir() -> Path:
    """Where built tables are kept between processes: env ``NEWS_CACHE_DIR``, else ``<project>/.cache``."""
    from khabar.paths import PROJECT_ROOT

    return Path(os.environ.get("NEWS_CACHE_DIR") or PROJECT_ROOT / ".cache")


def tables_key() -> str:
    """What the built tables depend on, digested: hazm's version and data files, the options, this
    module's source (the derivation and its constants), Python's and Unicode's versions. Found
    without importing hazm."""
    import hashlib
    import importlib.metadata
    import importlib.util
    import json

    parts: list = [CACHE_FORMAT, HAZM_OPTIONS, sys.version, unicodedata.unidata_version]
    try:
        parts.append(importlib.metadata.version("hazm"))
        spec = importlib.util.find_spec("hazm")
        data = Path(spec.origin).parent / "data" if spec and spec.origin else None
    except (importlib.metadata.PackageNotFoundError, ValueError):
        data = None
    for name in ("words.dat", "verbs.dat"):
        try:
            st = (data / name).stat() if data else None
            parts.append([name, st.st_size, st.st_mtime_ns] if st else [name, None])
        except OSError:
            parts.append([name, None])
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


def cached_tables() -> dict:
    """``build_tables()``, read from ``<cache_dir>/normalize-<key>.pickle`` when an earlier process
    wrote it (then hazm is not imported at all), else built and written there for the next one.
    The file is written to a temporary name and renamed into place, so processes starting together
    never read a half-written file; an unreadable file is rebuilt, an unwritable directory skipped."""
    import pickle
    import tempfile

    path = cache_dir() / f"normalize-{tables_key()}.pickle"
    try:
        with open(path, "rb") as f:
            tables = pickle.load(f)
        if isinstance(tables, dict) and tables.get("format") == CACHE_FORMAT:
            return tables
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError):
        pass
    tables = build_tables() | {"format": CACHE_FORMAT}
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name + ".", suffix=".tmp", delete=False) as out:
            tmp = out.name
            pickle.dump(tables, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.chmod(tmp, 0o644)  # other users of a shared cache dir (workers) read it too
        os.replace(tmp, path)
    except OSError:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return tables


class PersianNormalizer:
    """hazm's tables and lexicon compiled once; ``normalize`` is the pure ``str -> str``.

    >>> PersianNormalizer().normalize("همکاريهاي نظامي ٤ کشور")
    'همکاری\u200cهای نظامی ۴ کشور'
    """

    def __init__(self, use_cache: bool = True) -> None:
        # The tables below come from hazm (its import and ``Normalizer`` build take seconds); a process
        # reads them from the cache file an earlier process wrote (``build_tables`` / ``cached_tables``).
        tables = cached_tables() if use_cache else build_tables()
        self._table: dict[int, str | None] = tables["table"]
        self._controls_re = re.compile(tables["controls"])
        # what the table deletes goes before protection too: «a@b.irـCOVID-19» must not become two spans
        # that the next pass reads as one («a@b.irCOVID» + «-19»)
        self._deletions = {cp: None for cp, repl in self._table.items() if repl is None}
        # ``str.translate`` with these dicts costs a dict lookup per character of the text; a class of
        # the characters they change finds the few there are (same result: other characters map to
        # themselves), and each run found is translated.
        self._deletions_re = re.compile(_char_class(self._deletions) + "+")
        self._table_re = re.compile(_char_class(cp for cp, repl in self._table.items() if _changes(cp, repl)) + "+")
        # (pattern, replacement, needs a digit): hazm's «۹متر» → «۹ متر» rules only run on texts with digits
        self._punctuation = [
            (re.compile(_FASTER_PUNCTUATION.get((p, r), (p, r))[0]), _FASTER_PUNCTUATION.get((p, r), (p, r))[1], r"\d" in p)
            for p, r in tables["punctuation"]
        ]
        # «"..."» → «...»; hazm's momayez rule for «3.5» is left out: numbers are protected spans.
        self._quotes = re.compile(tables["quotes"])
        self.words: dict[str, tuple[int, tuple[str, ...]]] = tables["words"]
        self.verbs: frozenset[str] = tables["verbs"]
        self._solid_compounds: set[str] = tables["solid_compounds"]  # «زمینلرزه»: a stem, written solid or not
        self._joined: dict[str, str] = tables["joined"]
        self._cache: dict[str, str] = {}
        self._unchanged: set[str] = set()  # words _respell_words leaves as they are

    def _known(self, word: str) -> bool:
        """A tagged or counted entry of words.dat (the untagged count-0 half of the list is noisy),
        or such an entry with the derivational «ی» («همکاری» from «همکار»)."""
        entry = self.words.get(word)
        if entry is not None and (entry[0] > 0 or entry[1] != ("0",)):
            return True
        if word.endswith("ی") and len(word) > 3:
            entry = self.words.get(word[:-1])
            return entry is not None and (entry[0] > 0 or entry[1] != ("0",))
        return False

    def _attested(self, word: str) -> bool:
        """Written joined on purpose: a tagged entry of words.dat, or a verb form («کشورها» is not
        listed, «آنکه» is). Untagged count-0 entries («کتابها») are scraper debris in the list."""
        return word in self.verbs or word in SOLID_BY_CONVENTION or self._known(word)

    def _base(self, stem: str) -> str | None:
        """The stem as the lexicon spells it («زمینلرزه» → «زمین‌لرزه»), or None if unknown."""
        if stem in self.words:
            return stem
        return self._joined.get(stem, stem if stem in self._solid_compounds else None)

    def _translate_run(self, m: re.Match) -> str:
        return m.group().translate(self._table)

    def _respell_words(self, text: str) -> str:
        """``_WORD.sub(self._respell_match, text)``, without a call per word: the distinct words are
        respelled once, and only when one changes is the text rebuilt (from ``re.split``'s pieces)."""
        changed = {}
        for word in set(_WORD.findall(text)) - self._unchanged:  # most words: one set difference
            new = word if len(word) < 3 or ZWNJ in word else self.respell(word)
            if new != word:
                changed[word] = new
            elif len(self._unchanged) < 500_000:
                self._unchanged.add(word)
        if not changed:
            return text
        pieces = _WORD_SPLIT.split(text)
        pieces[1::2] = [changed.get(w, w) for w in pieces[1::2]]
        return "".join(pieces)

    def respell(self, token: str) -> str:
        """One joined token with its half-spaces restored when exactly one reading supports them.

        >>> PersianNormalizer().respell("همکاریهای")
        'همکاری\u200cهای'
        >>> PersianNormalizer().respell("خانهای")  # «خانه‌ای» or «خان‌های»: left alone
        'خانهای'
        """
        cached = self._cache.get(token)
        if cached is not None:
            return cached
        out = self._respell(token)
        if len(self._cache) > 500_000:
            self._cache.clear()
        self._cache[token] = out
        return out

    def _count(self, word: str) -> int:
        entry = self.words.get(word)
        return entry[0] if entry else 0

    def _evidence(self, word: str) -> int | None:
        """The count of ``word`` in words.dat; None when it is tagged but uncounted (count 0 there
        means "not measured", so such a reading can neither win nor lose on counts)."""
        count = self._count(word)
        return None if count == 0 and self._known(word) else count

    def _respell(self, token: str) -> str:
        if self._attested(token):
            return token
        # each reading with the evidence for it: the count in words.dat of its stem (or of itself)
        readings: dict[str, int | None] = {}

        def add(reading: str, count: int | None) -> None:
            old = readings.get(reading, 0)
            readings[reading] = None if None in (old, count) else max(old, count)

        if token in self._joined:
            spelled = self._joined[token]
            if spelled in self.verbs:  # «می‌یابد» wins any tie; «نشسته‌ای» («you have sat») does not
                add(spelled, 10**12 if spelled.startswith(("می\u200c", "نمی\u200c")) else None)
            else:
                add(spelled, self._evidence(spelled))
        if token.endswith("ی") and self._known(token[:-1]):
            add(token, self._evidence(token[:-1]))  # «انتهای» is «انتها» + «ی», not «انت» + «های»
        for suffixes, heh_only in ((PLURAL, False), (AFTER_HEH, True)):
            for suffix in suffixes:
                stem = token[: -len(suffix)]
                if not token.endswith(suffix) or len(stem) < 2:
                    continue
                if heh_only and not (_SILENT_HEH.search(stem) and stem not in CONSONANT_HEH):
                    continue  # «راهش», «باهاش»: after a consonant «ه» the suffix joins solid
                base = self._base(stem)
                if base is None or (token in self.words and not self._known(stem)):
                    # «تنهایی» is listed: «تن» + «هایی» needs a tagged stem to win against it
                    continue
                if not heh_only and "PL" in self.words.get(stem, (0, ()))[1]:
                    continue  # no plural of a plural («مطالب‌های»)
                add(token if stem[-1] in NON_JOINING else f"{base}{ZWNJ}{suffix}", self._evidence(base))
        for suffix in SOLID_SUFFIXES:  # «دانشآموزان» is «دانش‌آموز» + «ان», written solid
            base = self._joined.get(token[: -len(suffix)]) if token.endswith(suffix) else None
            if base is not None and base not in self.verbs:
                add(base + suffix, self._evidence(base))
        if len(readings) <= 1:
            return next(iter(readings), token)
        ranked = sorted(readings.items(), key=lambda item: (-(item[1] or 0), item[0]))
        top, second = ranked[0][1], ranked[1][1]
        if top and second is not None and top >= AMBIGUITY_RATIO * second:
            return ranked[0][0]
        return token

    def _join_pair(self, m: re.Match, check) -> str:
        word, suffix = m.group(1), m.group(2)
        if word[-1] in NON_JOINING or not check(word, suffix):
            return m.group(0)
        return f"{word}{ZWNJ}{suffix}"

    def _join_suffix(self, word: str, suffix: str) -> bool:
        # «کتاب ها»: the word must be a known stem; «تر» alone is also a word («wet»), so the
        # comparative needs an adjective before it.
        entry = self.words.get(word)
        if entry is None:
            return False
        return suffix not in COMPARATIVE or "AJ" in entry[1]

    def _join_heh(self, word: str, suffix: str) -> bool:
        return len(word) > 2 and (self._known(word) or word in self.verbs)  # not «به ای», «که ام»

    def _join_mi(self, prefix: str, rest: str) -> bool:
        return f"{prefix}{ZWNJ}{rest}" in self.verbs

    def _collapse_repeats(self, m: re.Match) -> str:
        # hazm's rule: «سلامممم» → «سلام»; a run of three or more letters becomes one or two,
        # whichever the word list knows (two when it knows neither or both).
        word = m.group(0)
        if word in self.words:
            return word
        one = re.sub(rf"({_L})\1{{2,}}", r"\1", word)
        two = re.sub(rf"({_L})\1{{2,}}", r"\1\1", word)
        if (one in self.words) != (two in self.words):
            return one if one in self.words else two
        return two

    def _punctuate(self, text: str) -> str:
        """Runs of dots and marks, quotes to guillemets, hazm's punctuation spacing."""
        text = _DOTS.sub("…", text)
        text = _REPEATED_PUNCT.sub(r"\1", text)
        text = self._quotes.sub(r"«\1»", text)
        if "  " in text or "\t" in text:
            text = _SPACES.sub(" ", text)
        has_digit = _DIGIT.search(text) is not None
        for pattern, repl, digits in self._punctuation:
            if has_digit or not digits:
                text = pattern.sub(repl, text)
        # once the spaces went, «« » » and «.. .» are runs again
        return _REPEATED_PUNCT.sub(r"\1", _DOTS.sub("…", text))

    def normalize(self, text: str) -> str:
        """Normalize Persian text (see the module docstring for the policy).

        >>> PersianNormalizer().normalize("کتاب ها در سايت www.example.com")
        'کتاب\u200cها در سایت www.example.com'
        """
        if not text:
            return ""
        spans: list[str] = []

        def keep(m: re.Match) -> str:
            spans.append(m.group(0))
            return chr(_PUA + len(spans) - 1)

        text = _PUA_RE.sub("", text)  # no stray placeholders from the input
        if "\u200e" in text or "\u200f" in text:
            text = _MARK_AS_ZWNJ.sub(ZWNJ, text)
        text = self._controls_re.sub("", text)  # before protection: no span keeps a control character
        text = self._deletions_re.sub("", text)  # = text.translate(self._deletions)
        if ZWNJ in text:  # the patterns below that open with a look-behind scan slowly: skip when idle
            text = _STRAY_ZWNJ_RAW.sub("", text)
        text = _protect(text, keep)
        text = self._table_re.sub(self._translate_run, text)  # = text.translate(self._table)
        if ZWNJ in text:
            text = _STRAY_ZWNJ.sub("", text)  # before any rule that looks at neighbours
        if _TRIPLE.search(text):  # rare: the full pattern is slow to scan for
            text = _REPEATED_LETTER.sub(self._collapse_repeats, text)
        quoted = '"' in text
        text = self._punctuate(text)
        for _ in range(2 if quoted else 0):
            # «""کتاب""»: each round pairs the next quotes and moves spaces; stop once it is stable
            again = self._punctuate(text)
            if again == text:
                break
            text = again
        if ZWNJ in text:
            text = _STRAY_ZWNJ.sub("", text)  # again: collapsed letters and moved spaces leave new ones
        text = self._respell_words(text)
        # the substring tests are C-speed scans that spare most texts the slower pair patterns
        if "می " in text:
            text = _MI_PAIR.sub(lambda m: self._join_pair(m, self._join_mi), text)
        if " ها" in text or " تر" in text:
            text = _SUFFIX_PAIR.sub(lambda m: self._join_pair(m, self._join_suffix), text)
        if "ه ا" in text:
            text = _HEH_PAIR.sub(lambda m: self._join_pair(m, self._join_heh), text)
        if "  " in text or "\t" in text:  # else every run is one space: nothing to change
            text = _SPACES.sub(" ", text)
        if " \n" in text or "\n " in text or "\n\n" in text:  # else each match is a lone newline
            text = _SPACE_AROUND_NL.sub("\n", text)
        text = text.strip(" \n")
        if spans:
            text = _PUA_RE.sub(lambda m: _put_back(spans[ord(m.group(0)) - _PUA]), text)
        return text


def _protect(text: str, keep) -> str:
    """``PROTECTED.sub(keep, text)``: the same leftmost, non-overlapping matches, tried only at the
    characters a match can start with."""
    out: list[str] = []
    done = pos = 0
    search, match = _PROTECTED_START.search, PROTECTED.match
    while (start := search(text, pos)) is not None:
        at = start.start()
        m = match(text, at)
        if m is None:
            pos = at + 1
            continue
        out += (text[done:at], keep(m))
        done = pos = m.end()
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


def _put_back(span: str) -> str:
    if _NUMERIC_SPAN.fullmatch(span):
        return span.translate(_TO_PERSIAN_DIGITS)  # dates, times, numbers follow the digit policy
    return span


@lru_cache(maxsize=1)
def normalizer() -> PersianNormalizer:
    """The process's one normalizer: its tables come from the cache file (a tenth of a second), or
    from hazm when no process has written it yet (seconds; see ``cached_tables``)."""
    return PersianNormalizer()


def restore_zwnj(token: str) -> str:
    """Put back the half-spaces of one joined token where the lexicon supports exactly one reading.

    >>> restore_zwnj("همکاریهای")
    'همکاری\u200cهای'
    >>> restore_zwnj("کتاب")
    'کتاب'
    """
    return normalizer().respell(token)


def normalize_text(text: str) -> str:
    """Normalize Persian text; raw text is kept elsewhere, this returns the clean form.

    >>> normalize_text("همکاریهای نظامی ايران توسعه مییابد")
    'همکاری\u200cهای نظامی ایران توسعه می\u200cیابد'
    """
    return normalizer().normalize(text)


if __name__ == "__main__":  # python -m khabar.normalize < file: a quick look at the output
    sys.stdout.write(normalize_text(sys.stdin.read()) + "\n")
