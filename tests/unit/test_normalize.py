from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from khabar.normalize import normalize_text, restore_zwnj

pytestmark = pytest.mark.unit
Z = "\u200c"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ايران كشور بزرگي است", "ایران کشور بزرگی است"),  # Arabic ي/ك → Persian
        ("سال ١٤٠٠ و 1400", "سال ۱۴۰۰ و ۱۴۰۰"),  # digit policy: Persian digits in bodies
        ("همکاریهای نظامی", f"همکاری{Z}های نظامی"),  # scraper-stripped ZWNJ restored
        ("توسعه مییابد", f"توسعه می{Z}یابد"),
        ("امروز سهشنبه", f"امروز سه{Z}شنبه"),  # compound from the lexicon
        ("بهطور حتم", f"به{Z}طور حتم"),
        ("کتاب ها", f"کتاب{Z}ها"),
        ("تروریستها شکست خوردهاند", f"تروریست{Z}ها شکست خورده{Z}اند"),
        ("کشورها", "کشورها"),  # ر does not join: no ZWNJ may be invented (hazm #367)
        ("سایت www.example.com را ببینید", "سایت www.example.com را ببینید"),  # hazm: «www. example. com»
        ("تاریخ ۱۴۰۲/۰۷/۱۵ ساعت 17:18", "تاریخ ۱۴۰۲/۰۷/۱۵ ساعت ۱۷:۱۸"),  # hazm: «۱۴۰۲ / ۰۷ / ۱۵»
        ("نامه به info@example.com", "نامه به info@example.com"),
        ("رشد 3.5 درصد", "رشد ۳.۵ درصد"),
        ("بیماری COVID-19 در شهر", "بیماری COVID-19 در شهر"),
        ("سلامـــت", "سلامت"),  # tatweel
    ],
)
def test_golden_pairs(raw, expected):
    assert normalize_text(raw) == expected


def test_restore_zwnj_never_invents_unsupported_half_spaces():
    assert restore_zwnj("کتاب") == "کتاب"
    assert restore_zwnj("ناشناختهزززز") == "ناشناختهزززز"


persian_text = st.text(
    alphabet=st.sampled_from(list("ابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهیيكة ٤۵6.،:/-\u200c\nwwwcom@")), max_size=80
)


@settings(max_examples=200, deadline=None)
@given(persian_text)
def test_normalize_is_idempotent(text):
    once = normalize_text(text)
    assert normalize_text(once) == once
