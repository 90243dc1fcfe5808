"""OpenLineage names of warehouse tables, and the step → tables map the DAGs declare."""

from __future__ import annotations

import pytest

from khabar.lineage import REPORTING_VIEWS, STEP_TABLES, dataset_names, step_datasets
from khabar.paths import INCLUDE_DIR
from khabar.reporting import view_files

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ("postgresql://u:secret@db.example:6543/khabar", ("postgres://db.example:6543", "khabar.reporting.articles")),
        ("postgresql://postgres@127.0.0.1/warehouse", ("postgres://127.0.0.1:5432", "warehouse.reporting.articles")),
        # the embedded warehouse: a Unix socket in the query string, no host in the authority
        ("postgresql://postgres:@/postgres?host=/tmp/pg", ("postgres://localhost:5432", "postgres.reporting.articles")),
        # a percent-encoded database name is decoded, as PostgreSQL sees it
        ("postgresql://u@h:5432/news%2Dwh", ("postgres://h:5432", "news-wh.reporting.articles")),
    ],
)
def test_dataset_names(dsn, expected):
    (got,) = dataset_names(dsn, ("reporting.articles",))
    assert got == expected
    assert "secret" not in repr(got)


def test_every_task_has_its_tables():
    import re
    from pathlib import Path

    dags = {p.stem: p.read_text(encoding="utf-8") for p in (Path(INCLUDE_DIR).parent / "dags").glob("*.py")}
    steps = set(re.findall(r'declare_lineage\(context, "(\w+)"', dags["news_reporting"]))
    assert steps == {"refresh_views", "validate_reporting"}
    for stage in ("ingest", "strip", "normalize", "date_tag", "dedup", "load"):
        assert stage in STEP_TABLES and f"validate_{stage}" in STEP_TABLES
    assert all(written for _, written in STEP_TABLES.values())


def test_the_reporting_views_are_those_the_sql_files_create():
    created = {name for vf in view_files() for name, _ in vf.objects}
    assert created == set(REPORTING_VIEWS)
    _, outputs = step_datasets("postgresql://h/db", "refresh_views")
    assert {n for _, n in outputs} == {f"db.{v}" for v in REPORTING_VIEWS}
