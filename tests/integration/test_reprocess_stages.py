"""Re-processing a part of the chain (migration 012): a stage re-runs from the stored output of the
stages before it. With unchanged rules every choice of stages leaves the rows the whole chain leaves and
reports nothing; a changed setting of a chosen stage (dedup thresholds, a date rule) is reported, and the
whole chain run next with the same setting finds nothing left to change."""

from __future__ import annotations

import shutil
from datetime import date

import psycopg2
import pytest

from helpers import table_checksums
from khabar.paths import SAMPLE_LANDING_DIR
from khabar.pipeline import Run, run_day
from khabar.reprocess import REPROCESS_STAGES, ReprocessError, rebuild_document, reprocess_range

pytestmark = pytest.mark.integration
DAYS = (date(2022, 1, 25), date(2022, 1, 26))


def query(dsn: str, sql: str, params=None) -> list[tuple]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def data(dsn: str) -> dict:
    """Every reporting table's digest but runs' (its airflow_run_id names the last re-processing)."""
    return {k: v for k, v in table_checksums(dsn).items() if not k.startswith("runs")}


@pytest.fixture(scope="module")
def loaded(fresh_db, tmp_path_factory):
    """The sample days loaded from a copy of the landing zone, which is then deleted."""
    landing = tmp_path_factory.mktemp("landing") / "sample"
    shutil.copytree(SAMPLE_LANDING_DIR, landing)
    for day in DAYS:
        run_day(fresh_db, Run(day, landing, quarantine_dir=tmp_path_factory.mktemp("quarantine")))
    shutil.rmtree(landing)
    return fresh_db


@pytest.fixture(autouse=True)
def no_landing_zone(tmp_path, monkeypatch):
    monkeypatch.setenv("NEWS_LANDING_DIR", str(tmp_path))  # empty: re-processing must not need it


def test_the_load_keeps_every_document_and_the_title_strip_gave_it(loaded):
    from khabar.strip import Stripper

    kept = query(loaded, "select o.doc_id, o.stripped_title, o.row->>'status' from reporting.stage_outputs o"
                         " where o.kind = 'document'")
    seen = query(loaded, "select sum(documents_seen) from reporting.runs")[0][0]
    ingest_refused = query(loaded, "select count(*) from reporting.quarantine where stage = 'ingest'")[0][0]
    assert len(kept) == seen - ingest_refused
    assert {status for _, _, status in kept} >= {"active", "duplicate"}
    # strip_title gives what the stripper itself gives, for every document of the sample days
    files = {p: (fmt, enc) for p, fmt, enc in query(loaded, "select source_path, file_format, encoding from reporting.files")}
    raws = query(loaded, "select source_path, record_index, raw_text from reporting.articles union all"
                         " select source_path, record_index, raw_text from reporting.duplicates union all"
                         " select source_path, record_index, raw_record from reporting.quarantine where stage <> 'ingest'")
    stripper, titles = Stripper(), {doc_id: title for doc_id, title, _ in kept}
    for path, index, raw in raws:
        doc = stripper.strip_document(rebuild_document(path, index, raw, *files[path]))
        assert titles[doc.doc_id] == doc.title, (path, index)


@pytest.mark.parametrize("stages", [["dedup"], ["date_tag"], ["normalize", "date_tag", "dedup"], ["normalize"]])
def test_a_part_of_the_chain_leaves_what_the_whole_chain_leaves(loaded, stages):
    reprocess_range(loaded, DAYS[0], DAYS[-1], "whole-chain")
    whole = data(loaded)
    rid = "part-" + "-".join(stages)

    summary = reprocess_range(loaded, DAYS[0], DAYS[-1], rid, stages)

    assert data(loaded) == whole
    assert summary["documents"] > 0 and summary["documents_changed"] == 0
    assert query(loaded, "select count(*) from reporting.reprocess_changes where reprocess_id = %s", (rid,)) == [(0,)]
    ran = REPROCESS_STAGES[REPROCESS_STAGES.index(stages[0]):]
    gates = query(loaded, "select distinct stage from reporting.gate_results where airflow_run_id = %s", (rid,))
    assert {g for (g,) in gates} == {"ingest", *ran, "load"}  # the stages before the first are not re-run


def _the_whole_chain_finds_nothing_more(dsn: str, rid: str) -> None:
    before = data(dsn)
    summary = reprocess_range(dsn, DAYS[0], DAYS[-1], rid)
    assert summary["documents_changed"] == 0 and data(dsn) == before


def test_changed_dedup_thresholds_show_when_dedup_alone_is_rerun(loaded, monkeypatch):
    members = {a for (a,) in query(loaded, "select article_id from reporting.articles where story_id <> article_id")}
    assert members, "the sample days hold a near-duplicate story"
    monkeypatch.setenv("KHABAR_DEDUP_JACCARD_MIN", "1.01")  # no pair can reach these: every article its own story
    monkeypatch.setenv("KHABAR_DEDUP_CONTAINMENT_MIN", "1.01")

    summary = reprocess_range(loaded, DAYS[0], DAYS[-1], "dedup-only", ["dedup"])

    changes = query(loaded, "select article_id, change, new_value from reporting.reprocess_changes"
                            " where reprocess_id = 'dedup-only'")
    assert {(a, new) for a, change, new in changes if change == "story"} == {(a, a) for a in members}
    assert {change for _, change, _ in changes} == {"story"}
    assert summary["story"] == len(members)
    _the_whole_chain_finds_nothing_more(loaded, "dedup-then-whole")


def test_a_changed_date_rule_shows_when_date_tag_is_rerun(loaded, monkeypatch):
    import khabar.dates

    (latest,) = query(loaded, "select max((published_at at time zone 'Asia/Tehran')::date) from reporting.articles")[0]
    dated = dict(query(loaded, "select article_id, published_at from reporting.articles"
                               " where (published_at at time zone 'Asia/Tehran')::date < %s", (latest,)))
    assert dated, "the sample days hold articles published on different days"
    # The plausible window now opens on the latest publication day: earlier dates are no longer believed.
    monkeypatch.setattr(khabar.dates, "EARLIEST", latest)

    summary = reprocess_range(loaded, DAYS[0], DAYS[-1], "dates-only", ["date_tag"])

    changes = query(loaded, "select article_id, old_value, new_value from reporting.reprocess_changes"
                            " where reprocess_id = 'dates-only' and change = 'date'")
    assert {a for a, _, _ in changes} == set(dated)
    assert summary["date"] == len(dated) and summary["body"] == 0
    after = dict(query(loaded, "select article_id, published_at from reporting.articles where article_id = any(%s)",
                       (list(dated),)))
    assert all(after[a] != dated[a] for a in dated)
    _the_whole_chain_finds_nothing_more(loaded, "dates-then-whole")


def test_a_day_without_stored_outputs_is_refused_unless_strip_runs(loaded):
    query(loaded, "delete from reporting.stage_outputs where run_id = %s returning 1", (DAYS[0].isoformat(),))
    with pytest.raises(ReprocessError, match="migration 012"):
        reprocess_range(loaded, DAYS[0], DAYS[0], "no-outputs", ["dedup"])
    reprocess_range(loaded, DAYS[0], DAYS[0], "no-outputs")  # the whole chain needs none, and stores them again
    assert query(loaded, "select count(*) > 0 from reporting.stage_outputs where run_id = %s", (DAYS[0].isoformat(),)) == [(True,)]
