"""The strip stage stores every removal, also when one line loses several parts to different rules."""

from __future__ import annotations

from datetime import date

import psycopg2
import pytest

from khabar.pipeline import Run, run_day

pytestmark = pytest.mark.integration
DAY = date(2022, 1, 25)


def test_prefix_and_title_of_one_line_both_reach_the_warehouse(fresh_db, tmp_path):
    partition = tmp_path / "landing" / DAY.isoformat()
    partition.mkdir(parents=True)
    (partition / "spain.txt").write_text(
        "روزنامه‌های اسپانیا؛ رئال در صدر جدول\nمتن خبر این است که بازی با تساوی تمام شد و هواداران راضی نبودند.\n",
        encoding="utf-8",
    )
    run_day(fresh_db, Run(DAY, tmp_path / "landing", quarantine_dir=tmp_path / "q"))
    with psycopg2.connect(fresh_db) as conn, conn.cursor() as cur:
        cur.execute("select line_no, rule from reporting.stripped_lines order by 1, 2")
        assert cur.fetchall() == [(0, "lead_prefix"), (0, "title")]
        cur.execute("select title, body from reporting.articles")
        title, body = cur.fetchone()
    conn.close()
    assert title == "رئال در صدر جدول" and body.startswith("متن خبر")
