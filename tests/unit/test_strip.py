from __future__ import annotations

import pytest

from khabar.document import Document
from khabar.strip import Stripper, detect_outlet, extract_html, fold_line

pytestmark = pytest.mark.unit


@pytest.fixture(scope="session")
def stripper():
    return Stripper()


def _strip(stripper, text, fmt="txt"):
    doc = Document("d", "f", "x.txt", 0, fmt, text)
    return stripper.strip_document(doc)


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        ("پربیننده ترین خبرها", "most_viewed"),
        ("پربیننده‌ترین خبرها", "most_viewed"),  # with ZWNJ
        ("ارسال نظرات", "comments"),
        ("خبرگزاری مهر مشاهده در مرجع", "view_at_source"),
        ("العالم - ایران / سیاسی", "section_byline"),
        ("کلیه حقوق این سایت محفوظ است", "copyright"),
        ("اشتراک گذاری", "share"),
        ("اخبار مرتبط", "related"),
    ],
)
def test_furniture_lines_are_removed_with_their_rule(stripper, line, rule):
    doc = _strip(stripper, f"عنوان خبر\nمتن اصلی خبر که باید بماند.\n{line}")
    assert doc.stripped_text == "متن اصلی خبر که باید بماند."
    assert (line.strip(), rule) in {(s.line, s.rule) for s in doc.stripped} or rule in {s.rule for s in doc.stripped}


@pytest.mark.parametrize(
    "marker",
    ["انتهای پیام/", "انتهای‌پیام/86011/ت10/ض1002", "انتهای متن/"],  # with editor codes, with ZWNJ
)
def test_end_marker_and_everything_after_it_go(stripper, marker):
    doc = _strip(stripper, f"عنوان\nمتن خبر.\n{marker} برچسب‌ها: ورزش\nتیتر مرتبط دیگر")
    assert doc.stripped_text == "متن خبر."
    assert {s.rule for s in doc.stripped} >= {"end_marker", "after_end_marker"}


def test_lead_prefix_is_cut_and_names_the_outlet(stripper):
    doc = _strip(stripper, "عنوان\nخبرگزاری فارس: رئیس اداره گفت که کار آغاز شد.")
    assert doc.stripped_text == "رئیس اداره گفت که کار آغاز شد."
    assert doc.outlet == "خبرگزاری فارس"


def test_title_dateline_and_repeats(stripper):
    text = "عنوان خبر مهم\n\nعنوان خبر مهم\nسه شنبه 5 بهمن 1400 - 17:18\nلید خبر.\nلید خبر.\nادامه متن."
    doc = _strip(stripper, text)
    assert doc.title == "عنوان خبر مهم"
    assert doc.stripped_text == "لید خبر.\nادامه متن."
    assert [s.rule for s in doc.stripped] == ["title", "repeated_title", "dateline", "repeated_paragraph"]
    assert doc.meta["datelines"] == ["سه شنبه 5 بهمن 1400 - 17:18"]


def test_most_viewed_block_takes_its_headlines_along(stripper):
    doc = _strip(stripper, "عنوان\nمتن اصلی که طولانی است.\nپربیننده ترین خبرها\nتیتر یک\nتیتر دو")
    assert doc.stripped_text == "متن اصلی که طولانی است."


def test_detect_outlet_from_attribution():
    # «به گزارش ... خبرگزاری X،» with a desk name in between
    assert detect_outlet("به گزارش حوزه دفاعی و امنیتی گروه سیاسی خبرگزاری آنا، وزرای دفاع") == "خبرگزاری آنا"
    assert detect_outlet("متن بدون منبع") is None


HTML = """<html><head><title>عنوان صفحه | سایت</title>
<meta property="og:title" content="همکاری‌های نظامی توسعه می‌یابد">
<meta property="article:published_time" content="2022-01-25T10:30:00+03:30">
<style>.x{}</style><script>var a = "انتهای پیام";</script></head>
<body><nav><a>خانه</a><a>سیاسی</a></nav>
<aside class="sidebar"><h3>پربیننده ترین خبرها</h3><ul><li>تیتر دیگر</li></ul></aside>
<article><h1>همکاری‌های نظامی توسعه می‌یابد</h1>
<p>رئیس ستاد گفت: همکاری‌های دو کشور گسترش می‌یابد.</p><p>پاراگراف دوم خبر.</p>
<div class="share-buttons">اشتراک گذاری</div></article>
<form><label>ارسال نظرات</label><textarea></textarea></form>
<footer>کلیه حقوق محفوظ است</footer></body></html>"""


def test_html_keeps_the_article_and_every_zwnj():
    page = extract_html(HTML)
    text = "\n".join(page.lines)
    assert "رئیس ستاد گفت: همکاری‌های دو کشور گسترش می‌یابد." in text
    assert text.count("\u200c") == HTML.split("<article>")[1].split("</article>")[0].count("\u200c")
    for furniture in ("پربیننده", "ارسال نظرات", "اشتراک", "حقوق", "خانه", "var a"):
        assert furniture not in text
    assert page.meta["published_time"] == "2022-01-25T10:30:00+03:30"
    assert page.meta["og_title"] == "همکاری‌های نظامی توسعه می‌یابد"


def test_fold_line_unifies_letters_and_spaces():
    assert fold_line(" انتهاي‌پيام  /") == "انتهای پیام /"


def test_a_line_can_lose_a_prefix_and_then_the_rest_each_recorded_once(stripper):
    # «روزنامه‌های اسپانیا؛» reads as a lead prefix; what follows it is the headline: two removals on line 0
    doc = _strip(stripper, "روزنامه‌های اسپانیا؛ رئال در صدر جدول\nمتن خبر این است که بازی با تساوی تمام شد.")
    removals = [(s.line_no, s.rule) for s in doc.stripped]
    assert (0, "lead_prefix") in removals and (0, "title") in removals
    assert len(removals) == len(set(removals))  # the warehouse keys a removal by (line, rule)
    assert doc.stripped_text == "متن خبر این است که بازی با تساوی تمام شد."
