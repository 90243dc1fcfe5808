"""Stories across days against a real PostgreSQL: a bridging article merges two stories (recorded),
a day loaded out of order still joins the later day's copy, and re-running days changes no row."""

from __future__ import annotations

from datetime import date

import psycopg2
import pytest

from helpers import table_checksums, write_landing
from khabar.pipeline import Run, run_day

pytestmark = pytest.mark.integration

# Fictional articles written for this test.
WATER = [
    "عملیات اجرایی خط دوم انتقال آب شرب به محلات شرقی شهر امروز با حضور استاندار و مدیرعامل شرکت آب و فاضلاب استان آغاز شد و قرار است تا پایان تابستان سال آینده به بهره برداری برسد.",
    "مدیرعامل شرکت آب و فاضلاب استان در آیین آغاز این طرح گفت این خط لوله به طول بیست و چهار کیلومتر از تصفیه خانه تا مخازن شرق شهر کشیده می شود و ظرفیت انتقال آن دو هزار لیتر در ثانیه است.",
    "اعتبار مورد نیاز این طرح حدود هزار و هشتصد میلیارد ریال برآورد شده که بخشی از آن از محل اعتبارات ملی و بخشی با مشارکت بخش خصوصی تامین می شود و بیش از سیصد نفر در این پروژه کار خواهند کرد.",
]
RAIL = [
    "قطار حومه ای میان دو شهر مرکزی کشور از هفته آینده با سه سفر رفت و برگشت در روز به کار می افتد و مسافران می توانند بلیت خود را از باجه های ایستگاه یا سامانه اینترنتی تهیه کنند.",
    "مدیرکل راه آهن منطقه گفت زمان سفر با این قطار کمتر از یک ساعت است و بهای بلیت برای دانشجویان و بازنشستگان با تخفیف پنجاه درصدی محاسبه می شود تا رفت و آمد روزانه آسان تر شود.",
    "به گفته وی واگن های این قطار پس از بازسازی کامل در کارخانه های داخلی به خط بازگشته اند و سامانه گرمایش و سرمایش آن ها برای سفر در فصل های سرد و گرم سال نوسازی شده است.",
]
FAIR = [
    "نمایشگاه کتاب استان با حضور بیش از دویست ناشر از سراسر کشور در محل دائمی نمایشگاه های شهر گشایش یافت و تا ده روز آینده هر روز از ساعت ده صبح تا هشت شب پذیرای علاقه مندان است.",
    "دبیر نمایشگاه گفت امسال بخش ویژه ای برای کتاب های کودک و نوجوان در نظر گرفته شده و نشست های نقد و بررسی کتاب با حضور نویسندگان و مترجمان در سالن اصلی برگزار می شود.",
    "به گفته وی خرید کتاب با بن تخفیف دانشجویی و طلاب در همه غرفه ها امکان پذیر است و ناشران موظف اند تخفیف مصوب را روی همه عناوین اعمال کنند تا کتاب به دست خوانندگان بیشتری برسد.",
]


def _article(title: str, dateline: str, paras: list[str]) -> str:
    return "\n\n".join([title, dateline, *paras])


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    root = tmp_path_factory.mktemp("landing")
    files = {
        # Day 1 (1400-10-30): two unrelated stories; the rail story is published first.
        "2022-01-20/water.txt": _article("آغاز خط دوم انتقال آب", "پنجشنبه 30 دی 1400 - 12:00", WATER),
        "2022-01-20/rail.txt": _article("قطار حومه ای راه می افتد", "پنجشنبه 30 دی 1400 - 08:00", RAIL),
        # Day 2 (1400-11-01): a roundup that carries both stories whole (the bridge), and the water story
        # again with Arabic letters (an exact copy once folded).
        "2022-01-21/roundup.txt": _article("خبرهای عمرانی استان", "جمعه 1 بهمن 1400 - 09:00", WATER + RAIL),
        "2022-01-21/water_arabic.txt": _article(
            "آغاز خط دوم انتقال آب", "جمعه 1 بهمن 1400 - 10:00", [p.replace("ی", "ي").replace("ک", "ك") for p in WATER]
        ),
        # Out of order: the later day (1400-11-13) is loaded before the earlier one (1400-11-12).
        "2022-02-02/fair_copy.txt": _article("گشایش نمایشگاه کتاب", "شنبه 13 بهمن 1400 - 11:00", FAIR[1:]),
        "2022-02-01/fair.txt": _article("نمایشگاه کتاب استان گشایش یافت", "جمعه 12 بهمن 1400 - 10:00", FAIR),
    }
    return write_landing(root, files)


def query(dsn, sql, params=()):
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()




def article(dsn, path: str) -> tuple[str, str]:
    (row,) = query(dsn, "select article_id, story_id from reporting.articles where source_path = %s", (path,))
    return row


@pytest.fixture(scope="module")
def loaded(fresh_db, landing):
    for day in (date(2022, 1, 20), date(2022, 1, 21), date(2022, 2, 2), date(2022, 2, 1)):
        run_day(fresh_db, Run(day, landing))
    return fresh_db


def test_a_bridging_article_merges_two_stories_into_the_older(loaded):
    water_id, water_story = article(loaded, "2022-01-20/water.txt")
    rail_id, rail_story = article(loaded, "2022-01-20/rail.txt")
    roundup_id, roundup_story = article(loaded, "2022-01-21/roundup.txt")
    assert water_story == rail_story == roundup_story == rail_id  # the rail story was published first
    assert query(loaded, "select merged_story_id, into_story_id, bridge_article_id, run_id from reporting.story_merges") == [
        (water_id, rail_id, roundup_id, "2022-01-21")
    ]
    decided = query(
        loaded,
        "select other_article_id, rule, same_story from reporting.dedup_decisions where article_id = %s order by 1",
        (roundup_id,),
    )
    assert {(other, same) for other, _, same in decided} == {(water_id, True), (rail_id, True)}
    assert all(rule.startswith(("jaccard", "containment")) for _, rule, _ in decided)
    stories = query(
        loaded,
        "select story_id, canonical_article_id, article_count, outlet_count from reporting.stories where story_id = %s",
        (rail_id,),
    )
    assert stories == [(rail_id, rail_id, 3, 0)]  # canonical: the earliest published; no outlet detected
    assert query(loaded, "select count(*) from reporting.stories where story_id = %s", (water_id,)) == [(0,)]


def test_an_exact_copy_on_a_later_day_is_a_duplicate_with_its_decision(loaded):
    water_id, _ = article(loaded, "2022-01-20/water.txt")
    dup = query(loaded, "select duplicate_of, run_id from reporting.duplicates where source_path = '2022-01-21/water_arabic.txt'")
    assert dup == [(water_id, "2022-01-21")]
    rules = query(
        loaded, "select jaccard, containment, rule from reporting.dedup_decisions where other_article_id = %s and rule = 'exact_hash'",
        (water_id,),
    )
    assert rules == [(1.0, 1.0, "exact_hash")]


def test_a_day_loaded_out_of_order_joins_the_later_days_story(loaded):
    copy_id, copy_story = article(loaded, "2022-02-02/fair_copy.txt")
    fair_id, fair_story = article(loaded, "2022-02-01/fair.txt")
    assert fair_story == copy_story == copy_id  # the story existed first: the new member does not rename it
    (canonical,) = query(loaded, "select canonical_article_id from reporting.stories where story_id = %s", (copy_id,))[0]
    assert canonical == fair_id  # earliest published


def test_rerunning_days_in_any_order_changes_no_row(loaded, landing):
    before = table_checksums(loaded)
    for day in (date(2022, 1, 21), date(2022, 1, 20), date(2022, 2, 1), date(2022, 2, 2), date(2022, 1, 21)):
        run_day(loaded, Run(day, landing))
        assert table_checksums(loaded) == before, day
