"""Guard rails every DAG in dags/ must meet (one shared DagBag)."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest

from helpers import PROJECT

pytestmark = pytest.mark.dags
ALLOWED_TAGS = {"news", "ingest", "reporting", "reprocess"}
HEAVY = ("hazm", "great_expectations", "bs4", "pgserver", "psycopg2", "khabar.normalize", "sklearn", "pandas")


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert {"news_ingest", "news_reporting"} <= set(dagbag.dags)


def test_dag_id_is_the_file_stem(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.fileloc.endswith(f"/{dag_id}.py")


def test_owner_retries_tags_and_docs(dagbag):
    for dag in dagbag.dags.values():
        assert dag.tags and set(dag.tags) <= ALLOWED_TAGS
        assert dag.doc_md and dag.max_active_runs == 1
        for task in dag.tasks:
            assert task.owner not in ("", "airflow"), task.task_id
            assert task.retries >= 1, task.task_id


# The task chain of news_ingest: each stage's last task (a batch stage's finish) is followed by its gate.
CHAIN = ("ingest_files", "validate_ingest", "strip_boilerplate", "learn_furniture", "validate_strip", "normalize_text",
         "validate_normalize", "tag_dates", "summarize_dates", "validate_date_tag", "fingerprint_batch", "deduplicate",
         "validate_dedup",
         "load_warehouse", "validate_load")
MAPPED = ("strip_boilerplate", "normalize_text", "tag_dates", "fingerprint_batch")


def test_every_stage_is_followed_by_its_gate(dagbag):
    dag = dagbag.dags["news_ingest"]
    order = [t.task_id for t in dag.topological_sort()] if hasattr(dag, "topological_sort") else None
    assert set(CHAIN) == set(dag.task_ids)
    for task_id, nxt in itertools.pairwise(CHAIN):
        downstream = dag.get_task(task_id).downstream_task_ids
        # ingest_files also feeds the mapped tasks their batch numbers
        assert downstream == ({nxt, *MAPPED} if task_id == "ingest_files" else {nxt}), task_id
    for stage, last in (("ingest", "ingest_files"), ("strip", "learn_furniture"), ("normalize", "normalize_text"),
                        ("date_tag", "summarize_dates"), ("dedup", "deduplicate"), ("load", "load_warehouse")):
        assert dag.get_task(f"validate_{stage}").upstream_task_ids == {last}
    assert order is None or order[0] == "ingest_files"


def test_the_per_document_stages_are_mapped_over_the_ingest_batches(dagbag):
    dag = dagbag.dags["news_ingest"]
    for task_id in MAPPED:
        task = dag.get_task(task_id)
        assert task.is_mapped, task_id
        (arg,) = task.op_kwargs_expand_input.value.values()  # batch=ingest_files(), the list of batch numbers
        assert arg.operator.task_id == "ingest_files" and arg.key == "return_value"
    assert not any(dag.get_task(t).is_mapped for t in set(CHAIN) - set(MAPPED))


def test_whole_day_timetable_in_tehran(dagbag):
    dag = dagbag.dags["news_ingest"]
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert str(dag.timezone) in ("Asia/Tehran", "Timezone('Asia/Tehran')")


@pytest.mark.parametrize("path", sorted(p.name for p in (PROJECT / "dags").glob("*.py")))
def test_nothing_heavy_is_imported_at_parse_time(path):
    code = (
        f"import sys, runpy; runpy.run_path('dags/{path}');"
        f"print(','.join(m for m in {(*HEAVY, 'openlineage')!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_news_reporting_runs_on_the_warehouse_asset(dagbag):
    dag = dagbag.dags["news_reporting"]
    assert type(dag.timetable).__name__ == "AssetTriggeredTimetable"
    (asset,) = dag.timetable.asset_condition.objects
    assert asset in dagbag.dags["news_ingest"].get_task("validate_load").outlets
