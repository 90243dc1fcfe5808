"""Re-running any day, or a whole range of days, leaves identical rows in every reporting table
(a checksum of each table is compared), including a range with duplicates across days, bad files
and quarantined records."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from helpers import table_checksums
from khabar.pipeline import Run, run_day

pytestmark = pytest.mark.integration
DAYS = [date(2022, 3, 1) + timedelta(days=i) for i in range(3)]
# gate_results is a log (a row per validation) and runs.loaded_at the time of the last load: both excluded
WORDS = ["قیمت", "خودرو", "بازار", "کاهش", "خریداران", "منتظر", "ماندند", "فروشندگان", "نمایشگاه", "تهران", "اصفهان", "مشهد"]


def article(n: int) -> str:
    return f"خبر {n}: " + " ".join(WORDS[(n + i) % len(WORDS)] + str(n * 100 + i) for i in range(40))


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    root = tmp_path_factory.mktemp("landing")
    for i, day in enumerate(DAYS):
        part = root / day.isoformat()
        part.mkdir()
        for n in range(4):
            (part / f"a{n}.txt").write_text(article(i * 10 + n), encoding="utf-8")
        (part / "yesterday_again.txt").write_text(article(max(i - 1, 0) * 10), encoding="utf-8")  # a cross-day copy
        records = [{"title": "خبر", "body": article(i * 10 + 5)}, {"title": "بی‌متن"}, "{bad"]
        (part / "feed.jsonl").write_text(
            "\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records), encoding="utf-8"
        )
        (part / "junk.html").write_bytes(b"\x00\x01\x02" * 40)
    return root




@pytest.fixture(scope="module")
def first(fresh_db, landing, tmp_path_factory):
    qdir = tmp_path_factory.mktemp("quarantine")
    for day in DAYS:
        run_day(fresh_db, Run(day, landing, quarantine_dir=qdir))
    return table_checksums(fresh_db), qdir


def test_the_range_loaded_something_of_every_kind(first):
    sums, _ = first
    assert sums["articles_rows"] >= 12 and sums["duplicates_rows"] >= 2
    assert sums["quarantine_rows"] == 9 and sums["files_rows"] == 21 and sums["runs_rows"] == 3


@pytest.mark.parametrize("day", DAYS, ids=str)
def test_running_any_day_again_changes_no_row(fresh_db, landing, first, day):
    sums, qdir = first
    run_day(fresh_db, Run(day, landing, quarantine_dir=qdir), gate=False)  # gates only add to the gate_results log
    assert table_checksums(fresh_db) == sums


def test_backfilling_the_range_again_changes_no_row(fresh_db, landing, first):
    sums, qdir = first
    for day in DAYS:
        run_day(fresh_db, Run(day, landing, quarantine_dir=qdir), gate=False)
    assert table_checksums(fresh_db) == sums
