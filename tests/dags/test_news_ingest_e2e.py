"""news_ingest end to end under dag.test(), on the seeds, against a real PostgreSQL: batches of two
documents, so strip, normalize, date-tag and dedup's fingerprinting each run as three mapped task instances."""

from __future__ import annotations

import shutil

import pendulum
import psycopg2
import pytest

from helpers import SEEDS, needs_shared

pytestmark = [pytest.mark.dags, pytest.mark.shared, needs_shared(SEEDS)]
DAY = pendulum.datetime(2022, 1, 25, tz="UTC")  # as `airflow dags test news_ingest 2022-01-25` passes it
BATCH_SIZE = 2  # 5 seed documents: batches 0, 1, 2
MAPPED = ("strip_boilerplate", "normalize_text", "tag_dates", "fingerprint_batch")
FURNITURE = ("پربیننده ترین خبرها", "ارسال نظرات", "انتهای پیام", "مشاهده در مرجع", "پایگاه رهنما:", "العالم - ایران / سیاسی")


def query(dsn, sql):
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, fresh_db):
    landing = tmp_path_factory.mktemp("landing")
    (landing / "2022-01-25").mkdir()
    for path in sorted(SEEDS.glob("*.txt")):
        shutil.copy(path, landing / "2022-01-25" / path.name)
    return landing, fresh_db


@pytest.fixture
def env(seeded, monkeypatch):
    landing, dsn = seeded
    monkeypatch.setenv("NEWS_LANDING_DIR", str(landing))
    monkeypatch.setenv("AIRFLOW_CONN_NEWS_WAREHOUSE", dsn)
    monkeypatch.setenv("NEWS_BATCH_SIZE", str(BATCH_SIZE))
    return dsn


def _states(dagrun) -> dict[str, str]:
    """Each task's state; a mapped task's instances all share one, or the test shows them all."""
    states: dict[str, set[str]] = {}
    for ti in dagrun.get_task_instances():
        states.setdefault(ti.task_id, set()).add(str(ti.state))
    return {task: next(iter(s)) if len(s) == 1 else str(sorted(s)) for task, s in states.items()}


def test_seeds_end_to_end(dagbag, env):
    dagrun = dagbag.dags["news_ingest"].test(logical_date=DAY)
    assert str(dagrun.state) == "success", _states(dagrun)
    mapped = sorted((ti.task_id, ti.map_index, str(ti.state)) for ti in dagrun.get_task_instances() if ti.map_index >= 0)
    assert mapped == [(task, i, "success") for task in sorted(MAPPED) for i in range(3)]
    # each instance is labelled with its batch in the UI (map_index_template)
    assert {ti.rendered_map_index for ti in dagrun.get_task_instances() if ti.map_index >= 0} == {"batch 0", "batch 1", "batch 2"}
    assert query(env, "select batch_size, batches, documents from staging.ingests") == [(BATCH_SIZE, 3, 5)]
    assert query(env, "select batch_no, count(*) from staging.documents group by 1 order by 1") == [(0, 2), (1, 2), (2, 1)]
    rows = query(env, "select source_path, story_id, published_jalali, body from reporting.articles order by source_path")
    assert len(rows) == 5
    for path, _, _, body in rows:
        for furniture in FURNITURE:
            assert furniture not in body, (path, furniture)
    story = {path.split("/")[-1][:3]: sid for path, sid, _, _ in rows}
    assert story["000"] == story["001"]
    assert len({story["002"], story["003"], story["004"], story["000"]}) == 4
    assert rows[0][2] == "1400-11-05"
    gates = query(env, "select stage, bool_and(success) from reporting.gate_results group by stage")
    assert dict(gates) == dict.fromkeys(("ingest", "strip", "normalize", "date_tag", "dedup", "load"), True)


def test_second_run_of_the_same_day_changes_nothing(dagbag, env):
    snapshot = "select md5(string_agg(t::text, '|' order by t::text)) from reporting.{} t"
    tables = ("articles", "stories", "quarantine", "stripped_lines", "outlet_lines", "date_mentions", "calendar",
              "date_coverage")
    before = [query(env, snapshot.format(t)) for t in tables]
    # another batch size (the DAG param, as a trigger's conf sets it): one batch of all five documents
    dagrun = dagbag.dags["news_ingest"].test(logical_date=DAY, run_conf={"batch_size": 50})
    assert str(dagrun.state) == "success"
    assert sorted(ti.task_id for ti in dagrun.get_task_instances() if ti.map_index >= 0) == sorted(MAPPED)
    assert [query(env, snapshot.format(t)) for t in tables] == before


def test_a_failing_gate_stops_the_run_and_is_recorded(dagbag, env, monkeypatch):
    import khabar.gates as gates

    original = gates.SUITES["strip"]

    def broken_suite(gxe, day):
        spec = original(gxe, day)
        # deliberately impossible: every body must be at least a million characters long
        spec.expectations.append(
            gxe.UnexpectedRowsExpectation(
                description="deliberately broken suite", unexpected_rows_query="select doc_id from {batch} where length(stripped_text) < 1000000"
            )
        )
        return spec

    monkeypatch.setitem(gates.SUITES, "strip", broken_suite)
    before = query(env, "select count(*) from reporting.gate_results where stage = 'normalize'")
    dagrun = dagbag.dags["news_ingest"].test(logical_date=DAY)
    states = _states(dagrun)
    assert str(dagrun.state) == "failed"
    assert states["validate_strip"] == "failed"
    assert states["normalize_text"] == "upstream_failed" and states["load_warehouse"] == "upstream_failed"
    (last,) = query(env, "select success, expectations_failed, details::text from reporting.gate_results"
                         " where stage = 'strip' order by gate_result_id desc limit 1")
    assert last[0] is False and last[1] == 1 and "deliberately broken suite" in last[2]
    assert query(env, "select count(*) from reporting.gate_results where stage = 'normalize'") == before
