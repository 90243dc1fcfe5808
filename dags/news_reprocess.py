"""
# news_reprocess

Re-processes days already in the warehouse when the rules change (furniture lexicon, date tables,
dedup thresholds, normalizer settings), **without reading the landing zone**, and reports what changed.

Trigger it by hand with the parameters `from_day` and `to_day` (Asia/Tehran days, `YYYY-MM-DD`) and
`stages` (any of strip, normalize, date_tag, dedup; default all). The stages chosen run with every later
stage that reads their output (`date_tag` alone runs date_tag and dedup, since dedup orders documents by
date; `dedup` alone runs dedup); the stages before the first of them are not re-run, their output comes
from what the load kept (`reporting.stage_outputs`, migration 012). For every day of the range the
warehouse holds a load of, one mapped task:

1. keeps the day's current state (outcome, body hash, date, story, pipeline version of each document),
2. rebuilds the day's staging rows from `reporting.articles.raw_text`, `reporting.duplicates.raw_text`,
   the quarantine's `raw_record` and `reporting.files` (format, encoding), puts back the stored output of
   the stages not re-run, and checks it with the ingest gate,
3. re-runs the stages (in order) and load, each followed by its gate,
4. writes `reporting.reprocess_changes` (one row per document and change: `outcome`, `body`, `date`,
   `story`, with old and new values and pipeline versions).

`summarize_changes` returns the totals. Each day's task holds the day's advisory lock, so a re-processing
run and an ingest of the same day never interleave (the second fails with `RunLocked` and retries).
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task
from news_common import DEFAULT_ARGS, START_DATE, warehouse_dsn

STAGES = ["strip", "normalize", "date_tag", "dedup"]


@dag(
    dag_id="news_reprocess",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["news", "reprocess"],
    doc_md=__doc__,
    params={
        "from_day": Param("2022-01-25", type="string", format="date", description="first day (Asia/Tehran)"),
        "to_day": Param("2022-01-26", type="string", format="date", description="last day, inclusive"),
        "stages": Param(STAGES, type="array", items={"type": "string", "enum": STAGES},
                        description="stages to re-run, with every later stage that reads them (see the DAG's doc)"),
    },
)
def news_reprocess():
    @task
    def plan_days(**context) -> list[str]:
        from datetime import date

        from airflow.sdk.exceptions import AirflowFailException

        from khabar.reprocess import check_stages, loaded_days
        from khabar.warehouse import apply_migrations

        params = context["params"]
        try:
            check_stages(params["stages"])
        except ValueError as exc:  # a wrong choice does not get better on retry
            raise AirflowFailException(str(exc)) from exc
        dsn = warehouse_dsn()
        apply_migrations(dsn)
        days = loaded_days(dsn, date.fromisoformat(params["from_day"]), date.fromisoformat(params["to_day"]))
        return [d.isoformat() for d in days]

    @task(max_active_tis_per_dagrun=1)
    def reprocess_day(day: str, **context) -> dict:
        from datetime import date

        from airflow.sdk.exceptions import AirflowFailException

        from khabar.gates import GateFailed
        from khabar.pipeline import Run
        from khabar.reprocess import NO_LANDING, ReprocessError
        from khabar.reprocess import reprocess_day as run_reprocess

        run = Run(date.fromisoformat(day), NO_LANDING, airflow_run_id=context["run_id"])
        try:
            return run_reprocess(warehouse_dsn(), run, context["run_id"], context["params"]["stages"])
        except (GateFailed, ReprocessError) as exc:  # bad data, or a day without stored text: a retry fails too
            raise AirflowFailException(str(exc)) from exc

    @task
    def summarize_changes(results: list[dict]) -> dict:
        from khabar.reprocess import summarize

        return summarize([r["changes"] | {"day": r["day"]} for r in results])

    summarize_changes(reprocess_day.expand(day=plan_days()))


news_reprocess()
