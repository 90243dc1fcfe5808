"""news_reporting under dag.test(), against a warehouse news_ingest loaded from the seeds; the
asset that ties the two DAGs; the README's example queries run as written."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from datetime import timedelta, timezone

import pendulum
import psycopg2
import pytest

from helpers import PROJECT, SEEDS, needs_shared

pytestmark = [pytest.mark.dags, pytest.mark.shared, needs_shared(SEEDS)]
DAYS = (pendulum.datetime(2022, 1, 25, tz="UTC"), pendulum.datetime(2022, 1, 26, tz="UTC"))
TEHRAN = timezone(timedelta(hours=3, minutes=30))  # no daylight saving in 2022-01


def query(dsn, sql, args=None):
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, fresh_db, dagbag):
    """Two days loaded by news_ingest: the seeds on the 25th, two of them again (exact copies) on the 26th."""
    landing = tmp_path_factory.mktemp("landing")
    seeds = sorted(SEEDS.glob("*.txt"))
    (landing / "2022-01-25").mkdir()
    (landing / "2022-01-26").mkdir()
    for path in seeds:
        shutil.copy(path, landing / "2022-01-25" / path.name)
    for path in seeds[:2]:
        shutil.copy(path, landing / "2022-01-26" / f"copy_{path.name}")
    mp = pytest.MonkeyPatch()
    mp.setenv("NEWS_LANDING_DIR", str(landing))
    mp.setenv("AIRFLOW_CONN_NEWS_WAREHOUSE", fresh_db)
    for day in DAYS:
        dagrun = dagbag.dags["news_ingest"].test(logical_date=day)
        assert str(dagrun.state) == "success"
    yield fresh_db
    mp.undo()


def test_news_reporting_is_scheduled_on_the_asset_news_ingest_publishes(dagbag):
    ingest, reporting = dagbag.dags["news_ingest"], dagbag.dags["news_reporting"]
    (outlet,) = ingest.get_task("validate_load").outlets
    assert list(reporting.timetable.asset_condition.objects) == [outlet]
    assert outlet.name == "news_warehouse"
    for task in ingest.tasks:  # only a load that passed its gate announces new data
        assert task.outlets == ([outlet] if task.task_id == "validate_load" else [])


def test_refresh_and_gate(dagbag, loaded):
    dsn = loaded
    dagrun = dagbag.dags["news_reporting"].test()
    states = {ti.task_id: str(ti.state) for ti in dagrun.get_task_instances()}
    assert str(dagrun.state) == "success", states

    # daily_volume against the articles, grouped here in Python through the calendar rows
    calendar = {day: (y, m, name) for day, y, m, name in query(dsn, "select day, jalali_year, jalali_month, jalali_month_name from reporting.calendar")}
    expected = Counter()
    for outlet, published in query(dsn, "select outlet, published_at from reporting.articles where published_at is not null"):
        expected[(outlet or "(unknown)", published.astimezone(TEHRAN).date())] += 1
    got = {(o, d): n for o, d, n in query(dsn, "select outlet, day, articles from reporting.daily_volume")}
    assert got == dict(expected) and sum(got.values()) >= 1  # the seeds: one dated by its dateline
    for o, d, y, m, name in query(dsn, "select outlet, day, jalali_year, jalali_month, jalali_month_name from reporting.daily_volume"):
        assert calendar[d] == (y, m, name), (o, d)
    # the seeds are all from Bahman 1400 (2022-01-25 is 1400-11-05)
    assert {calendar[d][:2] for _, d in got} == {(1400, 11)}

    # story_spread: 000 and 001 are one story; the other three stand alone
    sizes = sorted(n for (n,) in query(dsn, "select article_count from reporting.story_spread"))
    assert sizes == [1, 1, 1, 2]
    assert query(dsn, "select count(*), sum(article_count) from reporting.story_spread") == query(
        dsn, "select (select count(*) from reporting.stories), (select count(*) from reporting.articles)")

    # duplicate_rate: the 26th's two files are exact copies of the 25th's articles
    (copies,) = query(dsn, "select count(*) from reporting.duplicates")[0]
    assert copies == 2
    rates = query(dsn, "select outlet, articles, near_duplicates, exact_copies, documents, duplicate_rate from reporting.duplicate_rate")
    assert sum(r[3] for r in rates) == copies and sum(r[1] for r in rates) == 5
    for _, articles, near, exact, documents, rate in rates:
        assert documents == articles + exact and float(rate) == pytest.approx((near + exact) / documents, abs=1e-4)

    # run_quality: one row per loaded day, with the run's own counts
    runs = query(dsn, "select run_id, articles_loaded, duplicates, quarantine_rows, date_coverage from reporting.run_quality order by 1")
    assert [r[0] for r in runs] == ["2022-01-25", "2022-01-26"]
    assert runs[0][1:3] == (5, 0) and runs[1][1:3] == (0, 2)

    # the reporting gate is stored like the other gates, and gate_history numbers the attempts
    (gate,) = query(dsn, "select success, expectations_failed from reporting.gate_latest where stage = 'reporting'")
    assert gate == (True, 0)
    latest = query(dsn, "select run_id, stage, attempts from reporting.gate_latest where run_id = '2022-01-25' order by stage")
    assert [r[1] for r in latest] == sorted(["ingest", "strip", "normalize", "date_tag", "dedup", "load"])


def test_a_refresh_sees_new_loads_and_a_second_refresh_changes_nothing(dagbag, loaded):
    from khabar.reporting import refresh_views

    dsn = loaded
    first = refresh_views(dsn)
    again = refresh_views(dsn)
    assert first["applied"] == [] and again["rows"] == first["rows"]
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:  # what a new load would add
        cur.execute("update reporting.articles set outlet = 'تست' where article_id = (select min(article_id) from reporting.articles where published_at is not null)")
    assert query(dsn, "select count(*) from reporting.daily_volume where outlet = 'تست'") == [(0,)]
    refresh_views(dsn)
    assert query(dsn, "select count(*) from reporting.daily_volume where outlet = 'تست'") == [(1,)]


def test_a_changed_view_file_is_recreated(loaded, tmp_path):
    from khabar.reporting import REPORTING_SQL_DIR, refresh_views

    dsn = loaded
    for path in REPORTING_SQL_DIR.glob("*.sql"):
        shutil.copy(path, tmp_path / path.name)
    path = tmp_path / "03_duplicate_rate.sql"
    path.write_text(path.read_text(encoding="utf-8").replace("as duplicate_rate\n", "as duplicate_rate, 1 as added\n"), encoding="utf-8")
    out = refresh_views(dsn, tmp_path)
    assert out["applied"] == ["03_duplicate_rate.sql"]
    assert query(dsn, "select distinct added from reporting.duplicate_rate") == [(1,)]
    assert refresh_views(dsn)["applied"] == ["03_duplicate_rate.sql"]  # back to the shipped file


def test_the_readme_queries_run(loaded):
    """Every statement in the README's reporting examples runs as pasted and returns rows."""
    dsn = loaded
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Reporting views", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sql\n(.*?)```", section, re.S)
    statements = [re.sub(r"^\s*--.*$", "", s, flags=re.M).strip() for block in blocks for s in block.split(";")]
    statements = [s for s in statements if s]
    assert len(statements) >= 6
    for sql in statements:
        assert query(dsn, sql), sql


def operating_selects() -> list[str]:
    """Every inline ``select … from …`` of the README's "Operating it" section, placeholders filled in."""
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Operating it", 1)[1].split("\n## ", 1)[0]
    spans = [x.strip() for x in re.findall(r"`([^`]+)`", section)]
    fill = {"'<run id>'": "'manual__x'", "'…'": "'0000'", ":id": "'0000'"}
    out = []
    for sql in (x for x in spans if x.lower().startswith("select") and " from " in x):
        for placeholder, value in fill.items():
            sql = sql.replace(placeholder, value)
        out.append(sql.rstrip(";"))
    return out


def test_the_operating_section_queries_run(loaded):
    """The README's operating notes name tables and columns: each of their queries runs as written."""
    statements = operating_selects()
    assert len(statements) >= 12
    for sql in statements:
        query(loaded, sql)  # raises on a table or column the README names wrongly


def test_the_reporting_command_line(loaded, monkeypatch):
    """``python -m khabar.reporting``: refresh, a query printed under its header, and psql on the same warehouse."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "AIRFLOW_CONN_NEWS_WAREHOUSE": loaded, "PYTHONPATH": str(PROJECT / "plugins")}

    def cli(*args):
        out = subprocess.run([sys.executable, "-m", "khabar.reporting", *args], cwd=PROJECT, env=env,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout

    assert cli("refresh").startswith("applied:")
    lines = cli("select jalali_month_name, sum(articles) from reporting.daily_volume group by 1 order by 1").splitlines()
    assert lines[0] == "jalali_month_name\tsum" and len(lines) >= 2
    expected = query(loaded, "select count(*) from reporting.daily_volume")[0][0]
    assert cli("psql", "-Atc", "select count(*) from reporting.daily_volume").strip() == str(expected)


LINEAGE_RUN = """
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder='dags').dags['news_reporting']
print('STATE', dag.test().state)
"""


def _run_reporting_in_a_new_process(dsn, extra_env):
    """The provider registers its listener when Airflow loads plugins, once per process: a lineage
    setting has to be there when the process starts, as it is for a worker."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__OPENLINEAGE", "OPENLINEAGE"))}
    env.update(AIRFLOW_CONN_NEWS_WAREHOUSE=dsn, **extra_env)
    out = subprocess.run([sys.executable, "-c", LINEAGE_RUN], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)
    assert "STATE success" in out.stdout, out.stderr[-3000:]
    return out


def test_lineage_events_name_the_warehouse_tables(loaded, tmp_path):
    import json
    from urllib.parse import urlsplit

    events_file = tmp_path / "lineage.jsonl"
    transport = {"type": "file", "log_file_path": str(events_file), "append": True}
    _run_reporting_in_a_new_process(loaded, {"AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport)})
    events = [json.loads(line) for line in events_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    complete = {e["job"]["name"]: e for e in events if e.get("eventType") == "COMPLETE" and "job" in e}
    refresh = complete["news_reporting.refresh_views"]
    parts = urlsplit(loaded)
    namespace, database = f"postgres://{parts.hostname}:{parts.port}", parts.path.lstrip("/")
    inputs = {(d["namespace"], d["name"]) for d in refresh["inputs"]}
    outputs = {(d["namespace"], d["name"]) for d in refresh["outputs"]}
    assert (namespace, f"{database}.reporting.articles") in inputs
    assert (namespace, f"{database}.reporting.daily_volume") in outputs
    gate = complete["news_reporting.validate_reporting"]
    assert {d["name"] for d in gate["outputs"]} == {f"{database}.reporting.gate_results"}
    assert any(e.get("eventType") == "START" for e in events)


def test_no_lineage_without_a_transport(loaded, tmp_path):
    out = _run_reporting_in_a_new_process(loaded, {"OPENLINEAGE_EVENTS_PROBE": str(tmp_path)})
    assert list(tmp_path.iterdir()) == []
    assert '"eventType"' not in out.stdout + out.stderr
