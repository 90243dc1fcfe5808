from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from khabar.normalize import PersianNormalizer, normalize_text, normalizer, restore_zwnj

pytestmark = pytest.mark.unit
Z = "\u200c"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # letters and digits
        ("ايران كشور بزرگي است", "ایران کشور بزرگی است"),  # Arabic ي/ك → Persian
        ("مدرسة و مستشفى", "مدرسه و مستشفی"),  # ة and ى are Arabic-only too
        ("ﮐﺘﺎﺏ ٱلله", "کتاب الله"),  # presentation forms (hazm's table) and alef wasla
        ("خانۀ ما", "خانۀ ما"),  # «ۀ» is a Persian letter: kept
        ("سال ١٤٠٠ و 1400 و ۱۴۰۰", "سال ۱۴۰۰ و ۱۴۰۰ و ۱۴۰۰"),  # digit policy: Persian digits in bodies
        ("۵۰ %", "۵۰ ٪"),
        ("اِعلام کَرد", "اعلام کرد"),  # diacritics
        ("سلامـــت", "سلامت"),  # tatweel
        ("ﷲ اکبر", "الله اکبر"),  # a ligature becomes its word (hazm's table)
        ("سلاممممم", "سلام"),  # hazm's repeated-letter rule, checked against the word list
        # punctuation and whitespace
        ("سلام!!! چطوری؟؟", "سلام! چطوری؟"),  # repeated punctuation collapses
        ("گفت ....", "گفت …"),
        ("یک  دو\t\tسه", "یک دو سه"),
        ("خط اول\r\n\n\n  خط دوم  ", "خط اول\nخط دوم"),
        ('گفت "سلام"', "گفت «سلام»"),
        ("اعلام کرد : خبر", "اعلام کرد: خبر"),  # hazm's punctuation spacing
        # control characters, bidi marks, surrogates
        ("متن\u0007 با\u200f نویسه\ufeff", "متن با نویسه"),
        ("نشانی http://a.ir/x\ud800y", "نشانی http://a.ir/xy"),  # a lone surrogate cannot reach PostgreSQL
        ("برنامه\u200eهای ما", f"برنامه{Z}های ما"),  # a direction mark typed as a half-space
        # protected spans (hazm: «www. example. com», «۱۴۰۲ / ۰۷ / ۱۵», «۳٫۵»)
        ("سایت www.example.com را ببینید", "سایت www.example.com را ببینید"),
        ("نشانی https://www.farsnews.ir/news/13960807000572 است", "نشانی https://www.farsnews.ir/news/13960807000572 است"),
        ("نامه به info@example.com", "نامه به info@example.com"),
        ("تاریخ ۱۴۰۲/۰۷/۱۵ ساعت 17:18", "تاریخ ۱۴۰۲/۰۷/۱۵ ساعت ۱۷:۱۸"),  # separators stay, digits Persian
        ("تاریخ 2023-10-07", "تاریخ ۲۰۲۳-۱۰-۰۷"),
        ("رشد 3.5 درصد", "رشد ۳.۵ درصد"),
        ("هزینه 1,200,000 ریال", "هزینه ۱,۲۰۰,۰۰۰ ریال"),
        ("بیماری COVID-19 در شهر", "بیماری COVID-19 در شهر"),  # Latin digits inside a Latin word stay
        # half-spaces restored from the lexicon
        ("همکاریهای نظامی", f"همکاری{Z}های نظامی"),  # scraper-stripped ZWNJ restored
        ("توسعه مییابد", f"توسعه می{Z}یابد"),  # a verb form from hazm's conjugations
        ("امروز سهشنبه", f"امروز سه{Z}شنبه"),  # compound after a silent «ه»
        ("بهطور حتم", f"به{Z}طور حتم"),
        ("تروریستها شکست خوردهاند", f"تروریست{Z}ها شکست خورده{Z}اند"),
        ("زمینلرزهای", f"زمینلرزه{Z}ای"),  # the compound stem stays solid (standard), the suffix needs a half-space
        # space-separated affixes
        ("کتاب ها", f"کتاب{Z}ها"),
        ("نمی دانم", f"نمی{Z}دانم"),
        ("هسته ای", f"هسته{Z}ای"),
        ("مهم ترین", f"مهم{Z}ترین"),
        ("ماه می سال", "ماه می سال"),  # «می» (May) before a word that is no verb with «می»
        ("زمین لرزه ای", f"زمین لرزه{Z}ای"),  # hazm joins «زمین‌لرزه» too; spaced compounds are left as written
        # never invent a half-space
        ("کشورها", "کشورها"),  # ر does not join: no ZWNJ (hazm #367 adds one)
        (f"کشور{Z}ها", "کشورها"),  # ... and an invisible one after a non-joining letter goes
        (f"{Z}سلام{Z} به {Z}همه{Z}", "سلام به همه"),  # stray ZWNJs by spaces and ends go
        ("خانهای", "خانهای"),  # «خانه‌ای» or «خان‌های»: ambiguous, left as written
        ("تنهایی", "تنهایی"),  # a listed word, not «تن» + «هایی»
        ("انتهای", "انتهای"),  # «انتها» + «ی», not «انت» + «های»
        ("آنها", "آنها"),  # the solid spelling the lexicon lists and the corpus prefers
        ("مهمترین", "مهمترین"),  # solid comparatives are standard too
        ("پیشگیری", "پیشگیری"),  # so are solid compounds without a silent «ه»
        ("راهیابی", "راهیابی"),  # «ه» after «ا» is a consonant: solid is standard
    ],
)
def test_golden_pairs(raw, expected):
    assert normalize_text(raw) == expected


def test_restore_zwnj_never_invents_unsupported_half_spaces():
    assert restore_zwnj("کتاب") == "کتاب"
    assert restore_zwnj("ناشناختهزززز") == "ناشناختهزززز"
    assert restore_zwnj("همکاریهای") == f"همکاری{Z}های"


def test_empty_and_blank():
    assert normalize_text("") == ""
    assert normalize_text(" \n\t\u200c ") == ""


# Persian-ish text: words, affixes and compounds that the restorer acts on, written joined, spaced or
# with stray half-spaces, with digits, punctuation, Latin, URLs and Arabic letters mixed in.
FRAGMENTS = [
    "کتاب", "ها", "های", "همکاری", "خانه", "ای", "اند", "سه", "شنبه", "به", "طور", "می", "نمی", "یابد",
    "دانم", "کشور", "تر", "ترین", "مهم", "آن", "زمین", "لرزه", "تن", "هایی", "ايران", "كتاب", "ة", "ـ",
    "1400", "١٤٠٠", "۱۴۰۲/۰۷/۱۵", "17:18", "3.5", "www.example.com", "a@b.ir", "COVID-19", "!", "؟", "...",
    '"', "«", "»", ":", "،", ".", "ممم", "\u200e", "\ufffd",
]
SEPARATORS = ["", "", " ", "  ", Z, "\n", "\t", " " + Z]
persian_ish = st.lists(st.tuples(st.sampled_from(FRAGMENTS), st.sampled_from(SEPARATORS)), max_size=25).map(
    lambda parts: "".join(f + s for f, s in parts)
)
persian_chars = st.text(
    alphabet=st.sampled_from(list("ابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهیيكةى ٤۵6.،:/-!؟\"«»\u200c\u200f\nwwwcom@ـ")),
    max_size=80,
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(persian_ish, persian_chars))
@example("a@b.ir\u0640COVID-19")  # a deleted tatweel once glued two protected spans into an e-mail and a number
@example(":\u200c:")  # a stray half-space between punctuation
def test_normalize_is_idempotent(text):
    once = normalize_text(text)
    assert normalize_text(once) == once


@settings(max_examples=200, deadline=None)
@given(persian_ish)
def test_normalize_is_deterministic_whatever_the_cache_holds(text):
    warm = normalize_text(text)
    normalizer()._cache.clear()  # a fresh process: nothing cached
    normalizer()._unchanged.clear()
    assert normalize_text(text) == warm


@pytest.fixture(scope="module")
def second_normalizer() -> PersianNormalizer:
    return PersianNormalizer()


@settings(max_examples=50, deadline=None)
@given(persian_ish)
def test_two_normalizers_agree(second_normalizer, text):
    assert second_normalizer.normalize(text) == normalize_text(text)
