"""
# news_ingest

Daily ingestion of raw Persian news files into the PostgreSQL warehouse.

A run for day **D** (Asia/Tehran) reads the landing partition `<landing>/D/` (recursively) and the
files directly under `<landing>/` modified during D, then:

| stage | task(s) | gate |
|---|---|---|
| ingest: discover, read, decode; quarantine what cannot be read; put each document in a batch | `ingest_files` | `validate_ingest` |
| strip boilerplate (HTML to text, site furniture out, each removal recorded), per batch | `strip_boilerplate` [mapped] | |
| ... then learned furniture over the whole day (lines recurring in one outlet's documents) | `learn_furniture` | `validate_strip` |
| normalize (hazm + protected spans + half-space restoration), per batch | `normalize_text` [mapped] | `validate_normalize` |
| date-tag (Jalali datelines, metadata, links; mentions), per batch | `tag_dates` [mapped] | |
| ... then the calendar rows and date coverage per outlet for the day | `summarize_dates` | `validate_date_tag` |
| deduplicate: fingerprints per batch (exact hash, shingles, MinHash/LSH band keys) | `fingerprint_batch` [mapped] | |
| ... then every decision of the day (exact copies, candidates joined in SQL, stories) | `deduplicate` | `validate_dedup` |
| load into `reporting.*` in one transaction | `load_warehouse` | `validate_load` |

Batches: `ingest_files` assigns every document of the day to a batch of `batch_size` documents (DAG param
`batch_size`, else env `NEWS_BATCH_SIZE`, else the Variable `news_batch_size`, else 2500; in source order;
at most 1024 batches, Airflow's `max_map_length`) and returns the batch numbers; the [mapped] tasks are
expanded over them (dynamic task mapping), so several workers share one day. XCom carries only batch
numbers and counts, never text. The warehouse gets the same rows whatever the batch size.

Each gate runs a Great Expectations suite on what its stage wrote for the run, stores the result in
`reporting.gate_results`, and fails the run there when it does not pass.

Two runs of the same day never interleave: `max_active_runs=1`, and every task takes a PostgreSQL
advisory lock keyed by the day (a second holder fails with `RunLocked`, naming the holder). The mapped
batch tasks of one run share that lock (each writes only its own documents), the other tasks hold it
alone; a batch or finish task whose day was ingested by another run since fails (`RunSuperseded`).

When the load's gate passes, the run publishes the asset `news_warehouse` (its event's extra names
the day); `news_reporting` is scheduled on it and refreshes the reporting views.

Lineage: with an OpenLineage transport configured (e.g. `AIRFLOW__OPENLINEAGE__TRANSPORT`), every task
emits OpenLineage events naming the warehouse tables it reads and writes; off by default.

Configuration: landing root from `NEWS_LANDING_DIR` or the Variable `news_landing_dir`; warehouse
from the connection `news_warehouse`, else the embedded PostgreSQL under the project.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task
from news_common import DEFAULT_ARGS, START_DATE, TEHRAN, WAREHOUSE_ASSET
from news_common import declare_lineage as _declare_lineage
from news_common import warehouse_dsn as _warehouse_dsn

LANDING_VARIABLE = "news_landing_dir"
BATCH_SIZE_VARIABLE = "news_batch_size"


def _run(context, batch_size: int | None = None) -> object:
    """The pipeline's view of this Airflow run: its day in Tehran and the landing root."""
    import os
    from pathlib import Path

    from airflow.sdk import Variable

    from khabar.pipeline import Run, landing_root_from_env

    when = context.get("logical_date") or context["dag_run"].run_after
    day = pendulum.instance(when).in_timezone(TEHRAN).date()
    root = os.environ.get("NEWS_LANDING_DIR") or Variable.get(LANDING_VARIABLE, default=None)
    return Run(
        day=day, landing_root=Path(root) if root else landing_root_from_env(), airflow_run_id=context["run_id"],
        batch_size=batch_size,
    )


def _batch_size(context) -> int | None:
    """The run's batch size: the DAG param (trigger conf), else env NEWS_BATCH_SIZE, else the Variable."""
    import os

    from airflow.sdk import Variable

    size = (context.get("params") or {}).get("batch_size")
    size = size or os.environ.get("NEWS_BATCH_SIZE") or Variable.get(BATCH_SIZE_VARIABLE, default=None)
    return int(size) if size else None  # None: the library's default


def _stage(name: str, batch: int | None = None, batch_size: int | None = None, **context) -> dict:
    from airflow.sdk.exceptions import AirflowFailException

    from khabar.pipeline import RunSuperseded, run_stage

    dsn = _warehouse_dsn()
    _declare_lineage(context, name, dsn)
    try:
        return run_stage(dsn, name, _run(context, batch_size), batch)  # under the day's lock (shared by batches)
    except RunSuperseded as exc:  # another run owns the day now: a retry would not change that
        raise AirflowFailException(str(exc)) from exc


def _finish(name: str, **context) -> dict:
    from airflow.sdk.exceptions import AirflowFailException

    from khabar.pipeline import RunSuperseded, run_finish

    dsn = _warehouse_dsn()
    _declare_lineage(context, name, dsn)
    try:
        return run_finish(dsn, name, _run(context))  # under the day's lock, alone
    except RunSuperseded as exc:
        raise AirflowFailException(str(exc)) from exc


def _gate(name: str, **context) -> dict:
    from airflow.sdk.exceptions import AirflowFailException

    from khabar.gates import GateFailed
    from khabar.pipeline import run_gate

    dsn = _warehouse_dsn()
    _declare_lineage(context, f"validate_{name}", dsn)
    try:
        return run_gate(dsn, name, _run(context))
    except GateFailed as exc:  # bad data does not get better on retry
        raise AirflowFailException(str(exc)) from exc


@dag(
    dag_id="news_ingest",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone=TEHRAN),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["news", "ingest"],
    params={
        "batch_size": Param(
            None, type=["null", "integer"], minimum=1,
            description="documents per batch of the mapped stages (empty: env NEWS_BATCH_SIZE, Variable news_batch_size, 2500)",
        ),
    },
    doc_md=__doc__,
)
def news_ingest():
    @task
    def ingest_files(**context) -> list[int]:
        result = _stage("ingest", batch_size=_batch_size(context), **context)
        batches = result.pop("batches")
        context["ti"].xcom_push(key="counts", value=result)  # files, documents, quarantined, batch_size
        return batches  # what the mapped tasks expand over: the batch numbers, [0, 1, ...]

    @task
    def validate_ingest(**context) -> dict:
        return _gate("ingest", **context)

    @task(map_index_template="batch {{ task.op_kwargs['batch'] }}")
    def strip_boilerplate(batch: int, **context) -> dict:
        return _stage("strip", batch, **context)

    @task
    def learn_furniture(**context) -> dict:
        return _finish("strip", **context)

    @task
    def validate_strip(**context) -> dict:
        return _gate("strip", **context)

    @task(map_index_template="batch {{ task.op_kwargs['batch'] }}")
    def normalize_text(batch: int, **context) -> dict:
        return _stage("normalize", batch, **context)

    @task
    def validate_normalize(**context) -> dict:
        return _gate("normalize", **context)

    @task(map_index_template="batch {{ task.op_kwargs['batch'] }}")
    def tag_dates(batch: int, **context) -> dict:
        return _stage("date_tag", batch, **context)

    @task
    def summarize_dates(**context) -> dict:
        return _finish("date_tag", **context)

    @task
    def validate_date_tag(**context) -> dict:
        return _gate("date_tag", **context)

    @task(map_index_template="batch {{ task.op_kwargs['batch'] }}")
    def fingerprint_batch(batch: int, **context) -> dict:
        return _stage("dedup", batch, **context)

    @task
    def deduplicate(**context) -> dict:
        return _finish("dedup", **context)

    @task
    def validate_dedup(**context) -> dict:
        return _gate("dedup", **context)

    @task
    def load_warehouse(**context) -> dict:
        return _stage("load", **context)

    @task(outlets=[WAREHOUSE_ASSET])
    def validate_load(**context) -> dict:
        result = _gate("load", **context)  # raises on failure: no asset event for a bad load
        context["outlet_events"][WAREHOUSE_ASSET].extra = {"run_id": _run(context).run_id}
        return result

    batches = ingest_files()
    (
        batches
        >> validate_ingest()
        >> strip_boilerplate.expand(batch=batches)
        >> learn_furniture()
        >> validate_strip()
        >> normalize_text.expand(batch=batches)
        >> validate_normalize()
        >> tag_dates.expand(batch=batches)
        >> summarize_dates()
        >> validate_date_tag()
        >> fingerprint_batch.expand(batch=batches)
        >> deduplicate()
        >> validate_dedup()
        >> load_warehouse()
        >> validate_load()
    )


news_ingest()
