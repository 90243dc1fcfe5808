"""The faster forms of the text steps against the plain forms they replace: the same output on any input.

Each speed-up (issue 8) rewrites a step so that the regex engine or a C-level string method does less
work; these properties pin that the rewrite changes nothing: a reference written the plain way is
compared with the fast one on generated text over the characters the rules look at.
"""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from khabar import dates, gates, normalize, strip
from khabar.normalize import LETTERS, NON_JOINING, PROTECTED, ZWNJ, _protect, normalizer

pytestmark = pytest.mark.unit

_L = f"[{LETTERS}]"
# The patterns as they were written before they were rewritten to open with the ZWNJ they consume.
STRAY_ZWNJ = re.compile(rf"(?<!{_L})\u200c+|\u200c+(?!{_L})|(?<=[{''.join(NON_JOINING)}])\u200c+|\u200c{{2,}}")
STRAY_ZWNJ_RAW = re.compile(f"(?<![{normalize._ARABIC_SCRIPT}])\u200c+|\u200c+(?![{normalize._ARABIC_SCRIPT}])")

persian = st.text(
    alphabet=st.sampled_from(
        [*"ابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهیءأآ ي ك ة ى ـ\u064b\u0640 ٤۵6 0 9 . ، : / - ! ؟ « » ( ) [ { \" ' % @ _ +",
         "\u200c", "\u200c", "\u200e", "\u200f", "\n", "\t", "\u00a0", "\u2009", "w", "x", "h", "C", "O", "a", "b"]
    ),
    max_size=60,
)
words = st.lists(
    st.sampled_from(["کتاب", "ها", "همکاریهای", "خانهای", "می", "یابد", "سالهای", "زمینلرزهای", "آنها", "به", "ای", " ", "\n", "."]),
    max_size=20,
).map("".join)


@settings(max_examples=3000, deadline=None)
@given(persian)
@example("ب\u200c\u200cپ")
@example("\u200cا\u200c")
def test_stray_zwnj_patterns_match_what_they_did(text):
    assert normalize._STRAY_ZWNJ.sub("", text) == STRAY_ZWNJ.sub("", text)
    assert normalize._STRAY_ZWNJ_RAW.sub("", text) == STRAY_ZWNJ_RAW.sub("", text)


@settings(max_examples=3000, deadline=None)
@given(persian)
@example("a((ب۱[x")
def test_faster_punctuation_rules_change_what_hazm_s_change(text):
    for (pattern, repl), (fast, fast_repl) in normalize._FASTER_PUNCTUATION.items():
        assert re.sub(fast, fast_repl, text) == re.sub(pattern, repl, text)


def test_the_faster_punctuation_rules_are_hazm_s():
    # a rewrite only applies to the exact pattern hazm builds; if hazm changes one, it runs as hazm writes it
    sources = {p.pattern for p, _, _ in normalizer()._punctuation}
    for _, (fast, _) in normalize._FASTER_PUNCTUATION.items():
        assert fast in sources


@settings(max_examples=3000, deadline=None)
@given(persian)
@example("www.example.com و a@b.ir ۱۴۰۲/۰۷/۱۵ 17:18 3.5 COVID-19")
def test_protect_finds_the_spans_sub_finds(text):
    def keep(spans):
        return lambda m: spans.append(m.group(0)) or f"<{len(spans)}>"

    a: list[str] = []
    b: list[str] = []
    assert _protect(text, keep(a)) == PROTECTED.sub(keep(b), text)
    assert a == b


@settings(max_examples=1000, deadline=None)
@given(st.one_of(words, persian))
def test_respelling_the_distinct_words_is_respelling_each(text):
    nz = normalizer()
    expected = normalize._WORD.sub(lambda m: m.group() if len(m.group()) < 3 or ZWNJ in m.group() else nz.respell(m.group()), text)
    assert nz._respell_words(text) == expected
    assert nz._respell_words(text) == expected  # again, with the words now known unchanged


@settings(max_examples=2000, deadline=None)
@given(persian)
def test_the_translate_tables_through_regexes(text):
    nz = normalizer()
    assert nz._deletions_re.sub("", text) == text.translate(nz._deletions)
    assert nz._table_re.sub(nz._translate_run, text) == text.translate(nz._table)


def test_the_translate_regexes_cover_every_changed_character():
    nz = normalizer()
    every = "".join(chr(cp) for cp in range(0x10000) if not 0xD800 <= cp < 0xE000)
    assert nz._deletions_re.sub("", every) == every.translate(nz._deletions)
    assert nz._table_re.sub(nz._translate_run, every) == every.translate(nz._table)


@settings(max_examples=3000, deadline=None)
@given(persian)
def test_strip_fold_line_is_translate_then_collapse(text):
    assert strip.fold_line(text) == re.sub(r"\s+", " ", text.translate(strip._FOLD)).strip()


@settings(max_examples=3000, deadline=None)
@given(persian)
def test_dates_fold_text_is_both_translations(text):
    folded = dates.fold_text(text)
    assert folded == text.translate(dates._DIGITS).translate(dates._FOLD)
    assert len(folded) == len(text)


def test_the_folds_on_every_character():
    every = "".join(chr(cp) for cp in range(0x10000) if not 0xD800 <= cp < 0xE000)
    assert dates.fold_text(every) == every.translate(dates._DIGITS).translate(dates._FOLD)
    for i in range(0, len(every), 512):  # in lines, as the strip step folds them
        line = every[i:i + 512]
        assert strip.fold_line(line) == re.sub(r"\s+", " ", line.translate(strip._FOLD)).strip()



def test_the_strip_gate_replaces_what_the_lexicon_folds():
    """The strip gate folds bodies in SQL with one replace() a character (khabar.gates), in place of
    translate(): in order, the replacements give what strip's table gives, on every character."""
    every = "".join(chr(cp) for cp in range(0x10000) if not 0xD800 <= cp < 0xE000)
    replaced = every
    for char, repl in gates.FOLD_REPLACEMENTS:
        replaced = replaced.replace(char, repl)
    assert replaced == every.translate(strip._FOLD)

date_text = st.lists(
    st.sampled_from([
        "5", "۱۴", "21", "1400", "2023", "1443", "/", "-", ".", " ", "،", "بهمن", "ژانویه", "شعبان", "می", "مه", "ماه",
        "June", "jun", "Jun.", "KELVIN", "ſ", "İ", "سه شنبه", "دیروز", "امروز", "(", ")", "ساعت", "17:18", "ام", "th", ",",
        "گفت", "\n", "\u200c",
    ]),
    max_size=14,
).map("".join)


@settings(max_examples=3000, deadline=None)
@given(date_text, st.booleans())
@example("2019 Jun 19 و June 19, 2019", True)
@example("۱۴۰۲/۰۷/۱۵ و 15-7-1402", True)
def test_find_dates_hints_only_skip_patterns_that_cannot_match(text, with_reference):
    import dataclasses

    hinted = dates._patterns()
    always = re.compile("")
    unhinted = dataclasses.replace(hinted, textual_hint=always, latin_hint=always, numeric_hint=always)
    reference = dates.date(2022, 1, 25) if with_reference else None
    fast = dates.find_dates(text, reference=reference)
    original = dates._patterns
    try:
        dates._patterns = lambda: unhinted
        slow = dates.find_dates(text, reference=reference)
    finally:
        dates._patterns = original
    assert fast == slow


@settings(max_examples=1000, deadline=None)
@given(st.text() | st.text(alphabet=st.sampled_from(["\x00", "\x07", "\x85", "\n", "\r", "\t", "\f", "\ud800", "\ue000",
                                                     "\U000f0000", "\u0378", "\ufffe", "ب", "a", " ", "\u061c",
                                                     "\ufbc3", "\ufdc8", "\u2065", "\ufeff", "\u200c"]), max_size=80))
def test_control_share_counts_what_a_per_character_loop_counts(text):
    from khabar.ingest import _control_share, _sample

    sampled = _sample(text)
    bad = sum(1 for ch in sampled if unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") and ch not in "\n\r\t\f")
    assert _control_share(text) == bad / max(len(sampled), 1)


def test_no_control_or_unassigned_character_is_taken_for_a_usual_one():
    from khabar.ingest import _CONTROL_CATEGORIES, _UNUSUAL

    usual = [c for c in range(0x110000) if not _UNUSUAL.match(chr(c))]
    assert len(usual) > 1000  # the Latin, Arabic and punctuation blocks, less their unassigned points
    assert [hex(c) for c in usual if unicodedata.category(chr(c)) in _CONTROL_CATEGORIES and chr(c) not in "\n\r\t\f"] == []
