from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    from helpers import PROJECT

    return DagBag(dag_folder=str(PROJECT / "dags"))
