"""Strip stage against a real PostgreSQL: learned per-outlet furniture across days (and its
idempotency), credits in their columns, the review flag, and the lexicon-driven strip gate."""

from __future__ import annotations

import hashlib
from datetime import date

import psycopg2
import pytest

from khabar.gates import GateFailed, validate_stage
from khabar.pipeline import Run, run_day

pytestmark = pytest.mark.integration
DAY1, DAY2 = date(2022, 2, 1), date(2022, 2, 2)
SLOGAN = "سرویس شهرستان‌ها ـ میز خبر نمونه"  # recurs in every article of the outlet; no lexicon names it


def _article(n: int, extra: str = "") -> str:
    return (
        f"خبر شماره {n} درباره افتتاح پروژه‌ها\n"
        f"خبرگزاری نمونه: مدیرکل استان از افتتاح {n} طرح عمرانی در شهرستان‌ها خبر داد و گفت کار ادامه دارد.\n"
        f"{SLOGAN}\n"
        f"وی افزود: اعتبار این طرح‌ها {n * 10} میلیارد تومان است و تا پایان سال {n + 3} طرح دیگر نیز آغاز می‌شود.\n"
        f"{extra}"
    )


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    root = tmp_path_factory.mktemp("landing")
    (root / DAY1.isoformat()).mkdir()
    (root / DAY2.isoformat()).mkdir()
    for n in (1, 2):
        (root / DAY1.isoformat() / f"a{n}.txt").write_text(_article(n, "عکس: رضا سعیدی‌پور\nخبرنگار: مریم احمدی"), encoding="utf-8")
    (root / DAY2.isoformat() / "a3.txt").write_text(_article(3), encoding="utf-8")
    # mostly furniture: a short body under a long most-viewed block -> flagged for review, not dropped
    heavy = "تیتر خبر کوتاه\nخبرگزاری نمونه: یک جمله کوتاه خبری است.\nپربیننده ترین خبرها\n" + "\n".join(
        f"تیتر خبر پربیننده شماره {k} در سایت امروز" for k in range(8)
    )
    (root / DAY2.isoformat() / "heavy.txt").write_text(heavy, encoding="utf-8")
    return root


def query(dsn, sql, params=()):
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def checksum(dsn) -> str:
    rows = []
    for table in ("articles", "stripped_lines", "outlet_lines"):
        rows += [r[0] for r in query(dsn, f"select t::text from reporting.{table} t order by 1")]
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


@pytest.fixture(scope="module")
def loaded(fresh_db, landing):
    mp = pytest.MonkeyPatch()
    mp.setenv("NEWS_FURNITURE_MIN_DOCUMENTS", "3")
    mp.setenv("NEWS_FURNITURE_WINDOW_DAYS", "30")
    mp.setenv("NEWS_REVIEW_LOSS_SHARE", "0.5")
    for day in (DAY1, DAY2):
        run_day(fresh_db, Run(day, landing))
    yield fresh_db
    mp.undo()


def test_a_line_recurring_across_days_becomes_furniture_of_its_outlet(loaded):
    dsn = loaded
    # day 1: two documents are not enough evidence (threshold 3), the slogan stays
    day1 = query(dsn, "select body from reporting.articles where run_id = %s", (DAY1.isoformat(),))
    assert len(day1) == 2 and all("میز خبر نمونه" in body for (body,) in day1)
    # day 2: one more document plus day 1's two reach the threshold; the line goes with its own rule
    (body,) = query(dsn, "select body from reporting.articles where source_path like %s", (f"{DAY2.isoformat()}/a3.txt",))[0]
    assert "میز خبر نمونه" not in body and "اعتبار این طرح‌ها" in body  # digits are Persian after normalize
    rules = query(
        dsn,
        "select s.rule from reporting.stripped_lines s join reporting.articles a using (article_id)"
        " where a.source_path = %s and s.line like %s",
        (f"{DAY2.isoformat()}/a3.txt", "سرویس شهرستان%"),
    )
    assert rules == [("outlet_furniture",)]
    counts = dict(query(dsn, "select run_id, documents from reporting.outlet_lines where line = %s", (SLOGAN,)))
    assert counts == {DAY1.isoformat(): 2, DAY2.isoformat(): 1}


def test_rerunning_a_day_sees_the_same_evidence(loaded, landing, monkeypatch):
    dsn = loaded
    monkeypatch.setenv("NEWS_FURNITURE_MIN_DOCUMENTS", "3")
    before = checksum(dsn)
    # day 1 again, after day 2 was loaded: only earlier runs count, so nothing changes
    run_day(dsn, Run(DAY1, landing))
    run_day(dsn, Run(DAY2, landing))
    assert checksum(dsn) == before


def test_credits_go_to_their_columns_and_outlet_is_detected(loaded):
    rows = query(
        loaded,
        "select outlet, byline, photo_credit, body from reporting.articles where run_id = %s order by source_path",
        (DAY1.isoformat(),),
    )
    for outlet, byline, photo, body in rows:
        assert (outlet, byline, photo) == ("خبرگزاری نمونه", "مریم احمدی", "رضا سعیدی‌پور")
        assert "عکس" not in body and "خبرنگار" not in body


def test_an_article_that_lost_most_of_its_text_is_flagged_not_dropped(loaded):
    rows = query(loaded, "select needs_review, text_loss from reporting.articles where source_path like %s", ("%heavy.txt",))
    assert len(rows) == 1 and rows[0][0] is True and rows[0][1] > 0.5
    others = query(loaded, "select count(*) from reporting.articles where needs_review and source_path not like %s", ("%heavy.txt",))
    assert others == [(0,)]


def test_strip_gate_fails_on_a_body_with_a_lexicon_entry(loaded):
    dsn = loaded
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "update staging.documents set stripped_text = stripped_text || E'\\nکد خبر: 12345'"
            " where run_id = %s and source_path like %s",
            (DAY2.isoformat(), "%a3.txt"),
        )
    with pytest.raises(GateFailed, match="lexicon entry"):
        validate_stage(dsn, "strip", DAY2.isoformat(), DAY2)
