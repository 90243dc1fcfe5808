"""news_reprocess: its conventions, and a dag.test() run over the sample days loaded by news_ingest's
library, with the landing zone gone and a dedup threshold changed."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import pytest

from helpers import PROJECT, load_sample_days, query

pytestmark = pytest.mark.dags
DAYS = (date(2022, 1, 25), date(2022, 1, 26))
HEAVY = ("hazm", "great_expectations", "bs4", "pgserver", "psycopg2", "khabar", "sklearn", "pandas")


def test_manual_with_range_and_stage_params(dagbag):
    dag = dagbag.dags["news_reprocess"]
    assert type(dag.timetable).__name__ == "NullTimetable"  # schedule=None: triggered by hand
    assert {"from_day", "to_day", "stages"} <= set(dag.params.keys())
    assert dag.params["stages"] == ["strip", "normalize", "date_tag", "dedup"]
    assert [t.task_id for t in dag.topological_sort()] == ["plan_days", "reprocess_day", "summarize_changes"]


def test_nothing_heavy_is_imported_at_parse_time():
    code = (
        "import sys, runpy; runpy.run_path('dags/news_reprocess.py');"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.fixture(scope="module")
def loaded(fresh_db, tmp_path_factory):
    """The sample days loaded from a copy of the landing zone, which is then deleted."""
    return load_sample_days(fresh_db, tmp_path_factory, DAYS)


def test_reprocess_end_to_end_without_the_landing_zone(dagbag, loaded, tmp_path, monkeypatch):
    from khabar.pipeline import pipeline_version

    monkeypatch.setenv("NEWS_LANDING_DIR", str(tmp_path))  # empty
    monkeypatch.setenv("AIRFLOW_CONN_NEWS_WAREHOUSE", loaded)
    members = {a for (a,) in query(loaded, "select article_id from reporting.articles where story_id <> article_id")}
    old_version = pipeline_version()
    monkeypatch.setenv("KHABAR_DEDUP_JACCARD_MIN", "1.01")  # no near-copies: the stories they made split
    monkeypatch.setenv("KHABAR_DEDUP_CONTAINMENT_MIN", "1.01")

    dagrun = dagbag.dags["news_reprocess"].test(
        run_conf={"from_day": "2022-01-24", "to_day": "2022-01-26", "stages": ["strip", "normalize", "date_tag", "dedup"]}
    )

    states = {(ti.task_id, ti.map_index): str(ti.state) for ti in dagrun.get_task_instances()}
    assert str(dagrun.state) == "success", states
    assert sorted(k for k in states if k[0] == "reprocess_day") == [("reprocess_day", 0), ("reprocess_day", 1)]  # 01-24 holds no load
    rows = query(loaded, "select distinct reprocess_id, article_id, change, new_version from reporting.reprocess_changes")
    assert {r[0] for r in rows} == {dagrun.run_id}
    assert {a for _, a, change, _ in rows if change == "story"} == members and members
    assert {v for *_, v in rows} == {pipeline_version()} != {old_version}
    assert query(loaded, "select distinct pipeline_version from reporting.articles") == [(pipeline_version(),)]
    gates = query(loaded, "select stage, bool_and(success) from reporting.gate_results where airflow_run_id = %s group by 1",
                  (dagrun.run_id,))
    assert dict(gates) == dict.fromkeys(("ingest", "strip", "normalize", "date_tag", "dedup", "load"), True)


def test_a_part_of_the_chain_from_the_dag(dagbag, loaded, tmp_path, monkeypatch):
    monkeypatch.setenv("NEWS_LANDING_DIR", str(tmp_path))  # empty
    monkeypatch.setenv("AIRFLOW_CONN_NEWS_WAREHOUSE", loaded)

    dagrun = dagbag.dags["news_reprocess"].test(
        run_conf={"from_day": "2022-01-25", "to_day": "2022-01-25", "stages": ["date_tag"]}
    )

    assert str(dagrun.state) == "success"
    summary = next(ti for ti in dagrun.get_task_instances() if ti.task_id == "summarize_changes").xcom_pull()
    assert summary["days"] == ["2022-01-25"] and summary["documents"] > 0
    gates = query(loaded, "select distinct stage from reporting.gate_results where airflow_run_id = %s", (dagrun.run_id,))
    assert {g for (g,) in gates} == {"ingest", "date_tag", "dedup", "load"}  # strip and normalize kept, dedup follows dates
