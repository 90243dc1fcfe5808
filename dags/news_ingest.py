"""
# news_ingest

Daily ingestion of raw Persian news files into the PostgreSQL warehouse.

A run for day **D** (Asia/Tehran) reads the landing partition `<landing>/D/` (recursively) and the
files directly under `<landing>/` modified during D, then:

| stage | task | gate |
|---|---|---|
| ingest: discover, read, decode; quarantine what cannot be read | `ingest_files` | `validate_ingest` |
| strip boilerplate (HTML to text, site furniture out, each removal recorded) | `strip_boilerplate` | `validate_strip` |
| normalize (hazm + protected spans + half-space restoration) | `normalize_text` | `validate_normalize` |
| date-tag (Jalali datelines, metadata, links) | `tag_dates` | `validate_date_tag` |
| deduplicate (exact hash, MinHash/LSH stories) | `deduplicate` | `validate_dedup` |
| load into `reporting.*` in one transaction | `load_warehouse` | `validate_load` |

Each gate runs a Great Expectations suite on what its stage wrote for the run, stores the result in
`reporting.gate_results`, and fails the run there when it does not pass.

Two runs of the same day never interleave: `max_active_runs=1`, and every task takes a PostgreSQL
advisory lock keyed by the day (a second holder fails with `RunLocked`, naming the holder).

When the load's gate passes, the run publishes the asset `news_warehouse` (its event's extra names
the day); `news_reporting` is scheduled on it and refreshes the reporting views.

Lineage: with an OpenLineage transport configured (e.g. `AIRFLOW__OPENLINEAGE__TRANSPORT`), every task
emits OpenLineage events naming the warehouse tables it reads and writes; off by default.

Configuration: landing root from `NEWS_LANDING_DIR` or the Variable `news_landing_dir`; warehouse
from the connection `news_warehouse`, else the embedded PostgreSQL under the project.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, task
from news_common import WAREHOUSE_ASSET
from news_common import declare_lineage as _declare_lineage
from news_common import warehouse_dsn as _warehouse_dsn

LANDING_VARIABLE = "news_landing_dir"
TEHRAN = "Asia/Tehran"


def _run(context) -> object:
    """The pipeline's view of this Airflow run: its day in Tehran and the landing root."""
    import os
    from pathlib import Path

    from airflow.sdk import Variable

    from khabar.pipeline import Run, landing_root_from_env

    when = context.get("logical_date") or context["dag_run"].run_after
    day = pendulum.instance(when).in_timezone(TEHRAN).date()
    root = os.environ.get("NEWS_LANDING_DIR") or Variable.get(LANDING_VARIABLE, default=None)
    return Run(day=day, landing_root=Path(root) if root else landing_root_from_env(), airflow_run_id=context["run_id"])


def _stage(name: str, **context) -> dict:
    from khabar.pipeline import run_stage

    dsn = _warehouse_dsn()
    _declare_lineage(context, name, dsn)
    return run_stage(dsn, name, _run(context))  # under the day's lock


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
    start_date=pendulum.datetime(2000, 1, 1, tz=TEHRAN),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "news-data", "retries": 2, "retry_delay": pendulum.duration(minutes=1)},
    tags=["news", "ingest"],
    doc_md=__doc__,
)
def news_ingest():
    @task
    def ingest_files(**context) -> dict:
        return _stage("ingest", **context)

    @task
    def validate_ingest(**context) -> dict:
        return _gate("ingest", **context)

    @task
    def strip_boilerplate(**context) -> dict:
        return _stage("strip", **context)

    @task
    def validate_strip(**context) -> dict:
        return _gate("strip", **context)

    @task
    def normalize_text(**context) -> dict:
        return _stage("normalize", **context)

    @task
    def validate_normalize(**context) -> dict:
        return _gate("normalize", **context)

    @task
    def tag_dates(**context) -> dict:
        return _stage("date_tag", **context)

    @task
    def validate_date_tag(**context) -> dict:
        return _gate("date_tag", **context)

    @task
    def deduplicate(**context) -> dict:
        return _stage("dedup", **context)

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

    (
        ingest_files()
        >> validate_ingest()
        >> strip_boilerplate()
        >> validate_strip()
        >> normalize_text()
        >> validate_normalize()
        >> tag_dates()
        >> validate_date_tag()
        >> deduplicate()
        >> validate_dedup()
        >> load_warehouse()
        >> validate_load()
    )


news_ingest()
