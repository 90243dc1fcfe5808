"""
# news_reporting

Refreshes the reporting layer analysts query (`include/sql/reporting/*.sql`: `daily_volume`,
`story_spread`, `duplicate_rate`, `run_quality`, `quarantine_reasons`, `gate_history`,
`gate_latest`) and checks it.

Scheduled on the asset `news_warehouse`, which `news_ingest` publishes when a day's load has passed
its gate: every successful load (scheduled, backfilled or re-run) is followed by a refresh. Loads
that finish close together are served by one refresh.

| task | what it does |
|---|---|
| `refresh_views` | creates the views whose SQL file changed, refreshes the materialized ones (one transaction) |
| `validate_reporting` | Great Expectations gate: the views agree with the tables they summarise; stored in `reporting.gate_results` (stage `reporting`) |

Lineage: with an OpenLineage transport configured, both tasks name the tables they read and the views
they write; off by default.

Configuration: the warehouse connection `news_warehouse`, as for `news_ingest`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task
from news_common import DEFAULT_ARGS, START_DATE, TEHRAN, WAREHOUSE_ASSET, declare_lineage, warehouse_dsn


def _loaded_days(context) -> list[str]:
    """The days whose loads triggered this run (empty for a manual run)."""
    events = context.get("triggering_asset_events") or {}
    return [str(e.extra["run_id"]) for evs in events.values() for e in evs if (e.extra or {}).get("run_id")]


@dag(
    dag_id="news_reporting",
    schedule=[WAREHOUSE_ASSET],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["news", "reporting"],
    doc_md=__doc__,
)
def news_reporting():
    @task
    def refresh_views(**context) -> dict:
        from khabar.reporting import refresh_views as refresh

        dsn = warehouse_dsn()
        declare_lineage(context, "refresh_views", dsn)
        return refresh(dsn)

    @task
    def validate_reporting(**context) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from khabar.gates import GateFailed, validate_stage
        from khabar.reporting import reporting_run_id

        dsn = warehouse_dsn()
        declare_lineage(context, "validate_reporting", dsn)
        run_id = reporting_run_id(dsn, _loaded_days(context))
        day = pendulum.instance(context["dag_run"].run_after).in_timezone(TEHRAN).date()
        try:
            return validate_stage(dsn, "reporting", run_id, day, context["run_id"])
        except GateFailed as exc:  # the views disagree with their tables: a retry would too
            raise AirflowFailException(str(exc)) from exc

    refresh_views() >> validate_reporting()


news_reporting()
