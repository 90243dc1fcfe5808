"""What the news DAGs share: the warehouse connection and asset, and the lineage declaration.

Not a DAG (listed in ``dags/.airflowignore``); the DAG files import it from the DAGs folder, which
Airflow puts on ``sys.path``. Light at parse time: the library is imported inside the helpers.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset

TEHRAN = "Asia/Tehran"
# Every news DAG: the same owner, retries and (unused, no catch-up) start in Tehran.
START_DATE = pendulum.datetime(2000, 1, 1, tz=TEHRAN)
DEFAULT_ARGS = {"owner": "news-data", "retries": 2, "retry_delay": pendulum.duration(minutes=1)}
WAREHOUSE_CONN_ID = "news_warehouse"
# The warehouse as an Airflow asset: news_ingest's last gate publishes it, news_reporting is scheduled on it.
WAREHOUSE_ASSET = Asset(name="news_warehouse", uri="khabar://news_warehouse/reporting", group="warehouse")


def warehouse_dsn() -> str:
    """The warehouse: the connection ``news_warehouse``, else the embedded PostgreSQL under the project."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    from khabar.warehouse import embedded_dsn

    try:
        return BaseHook.get_connection(WAREHOUSE_CONN_ID).get_uri()
    except AirflowNotFoundException:
        return embedded_dsn()


def declare_lineage(context, step: str, dsn: str) -> None:
    """Name the warehouse tables this task reads and writes as its OpenLineage inputs and outputs,
    when a transport is configured (the provider's listener reads them when the task ends)."""
    try:
        from airflow.providers.openlineage.conf import is_disabled
    except ImportError:  # provider not installed: no lineage
        return
    if is_disabled():
        return
    from openlineage.client.event_v2 import Dataset

    from khabar.lineage import step_datasets

    inputs, outputs = step_datasets(dsn, step)
    task = context["task"]
    task.inlets = [*task.inlets, *(Dataset(namespace=ns, name=name) for ns, name in inputs)]
    task.outlets = [*task.outlets, *(Dataset(namespace=ns, name=name) for ns, name in outputs)]
