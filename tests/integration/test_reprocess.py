"""Re-processing from the warehouse alone: the sample days are loaded, the landing zone is deleted, and
the days are re-processed with unchanged rules (nothing moves), again (same rows), with a changed
lexicon (the articles it touches are reported, the others not) and with changed dedup thresholds."""

from __future__ import annotations

import shutil
from datetime import date

import psycopg2
import pytest

from helpers import DATA_TABLES, table_checksums
from khabar.paths import SAMPLE_LANDING_DIR
from khabar.pipeline import Run, pipeline_version, run_day
from khabar.reprocess import reprocess_day, reprocess_range
from khabar.warehouse import RunLocked, day_lock

pytestmark = pytest.mark.integration
DAYS = (date(2022, 1, 25), date(2022, 1, 26))


def query(dsn: str, sql: str, params=None) -> list[tuple]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


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


def test_unchanged_rules_rebuild_every_row_and_report_nothing(loaded):
    before = table_checksums(loaded)
    summary = reprocess_range(loaded, DAYS[0], DAYS[-1], "same-rules")
    after = table_checksums(loaded)
    # runs.airflow_run_id names the re-processing run; every other row is what ingest from the files made
    assert {k: v for k, v in after.items() if not k.startswith("runs")} == {k: v for k, v in before.items() if not k.startswith("runs")}
    (documents,) = query(
        loaded,
        "select (select count(*) from reporting.articles) + (select count(*) from reporting.duplicates)"
        " + (select count(*) from reporting.quarantine where stage <> 'ingest')",
    )[0]
    assert summary["days"] == [d.isoformat() for d in DAYS]
    assert summary["documents"] == documents and summary["documents_changed"] == 0
    assert query(loaded, "select count(*) from reporting.reprocess_changes") == [(0,)]
    assert query(loaded, "select distinct pipeline_version from reporting.articles") == [(pipeline_version(),)]
    gates = query(loaded, "select stage, bool_and(success) from reporting.gate_results where airflow_run_id = 'same-rules' group by 1")
    assert dict(gates) == dict.fromkeys(("ingest", "strip", "normalize", "date_tag", "dedup", "load"), True)


def test_a_second_run_of_the_same_reprocessing_leaves_the_same_rows(loaded):
    reprocess_range(loaded, DAYS[0], DAYS[-1], "same-rules")
    before = table_checksums(loaded, (*DATA_TABLES, "reprocess_changes"))
    reprocess_range(loaded, DAYS[0], DAYS[-1], "same-rules")
    assert table_checksums(loaded, (*DATA_TABLES, "reprocess_changes")) == before


def _lexicon_with_end_marker(dsn: str, tmp_path) -> tuple[str, object]:
    """An end marker (a word) found in the middle of exactly one document's kept text and nowhere else."""
    from khabar.strip import LEXICON_PATH, fold_line

    docs = query(dsn, "select doc_id, raw_text, stripped_text, status from staging.documents order by doc_id")
    raws = {doc_id: fold_line(raw) for doc_id, raw, _, _ in docs}
    for doc_id, _, stripped, status in docs:
        lines = [fold_line(x) for x in (stripped or "").splitlines() if x.strip()]
        if status != "active" or len(lines) < 3:
            continue
        for word in lines[-1].split():
            if len(word) >= 6 and word.isalpha() and sum(word in r for r in raws.values()) == 1 and word not in lines[0]:
                lexicon = tmp_path / "furniture.tsv"
                lexicon.write_text(LEXICON_PATH.read_text(encoding="utf-8") + f"end\ttest_marker\t{word}\n", encoding="utf-8")
                return doc_id, lexicon
    raise AssertionError("no word unique to one document in the sample days")


def test_a_changed_lexicon_reports_the_articles_it_changed_and_no_other(loaded, tmp_path, monkeypatch):
    import khabar.strip

    old_version = pipeline_version()
    target, lexicon = _lexicon_with_end_marker(loaded, tmp_path)
    monkeypatch.setattr(khabar.strip, "LEXICON_PATH", lexicon)
    monkeypatch.setattr(khabar.strip.Stripper.__init__, "__defaults__", (lexicon,))
    new_version = pipeline_version()
    assert new_version != old_version
    (old_body,) = query(loaded, "select body from reporting.articles where article_id = %s", (target,))[0]

    summary = reprocess_range(loaded, DAYS[0], DAYS[-1], "lexicon-changed")

    changes = query(loaded, "select article_id, change, old_version, new_version from reporting.reprocess_changes"
                            " where reprocess_id = 'lexicon-changed'")
    assert {a for a, change, _, _ in changes if change == "body"} == {target}
    assert {a for a, change, _, _ in changes if change in ("outcome", "date")} == set()
    assert {(old, new) for _, _, old, new in changes} == {(old_version, new_version)}
    assert summary["body"] == 1 and summary["new_versions"] == [new_version]
    (new_body,) = query(loaded, "select body from reporting.articles where article_id = %s", (target,))[0]
    assert len(new_body) < len(old_body) and old_body.startswith(new_body[:20])
    assert query(loaded, "select distinct pipeline_version from reporting.articles") == [(new_version,)]
    assert query(loaded, "select count(*) from reporting.stripped_lines where rule = 'end_marker' and article_id = %s", (target,))[0][0] >= 1


def test_changed_dedup_thresholds_split_the_stories_that_only_they_joined(loaded, monkeypatch):
    members = {a for (a,) in query(loaded, "select article_id from reporting.articles where story_id <> article_id")}
    assert members, "the sample days hold a near-duplicate story"
    monkeypatch.setenv("KHABAR_DEDUP_JACCARD_MIN", "1.01")  # no pair can reach these: every article its own story
    monkeypatch.setenv("KHABAR_DEDUP_CONTAINMENT_MIN", "1.01")

    summary = reprocess_range(loaded, DAYS[0], DAYS[-1], "no-near-copies")

    changes = query(loaded, "select article_id, change, old_value, new_value from reporting.reprocess_changes"
                            " where reprocess_id = 'no-near-copies' and change = 'story'")
    assert {(a, new) for a, _, _, new in changes} == {(a, a) for a in members}
    assert summary["story"] == len(members) and summary["outcome"] == 0 and summary["date"] == 0
    # the conservation gate passed on every day: the runs' counts still add up
    for seen, articles, duplicates, quarantined in query(
        loaded, "select documents_seen, articles_loaded, duplicates, quarantined from reporting.runs"
    ):
        assert seen == articles + duplicates + quarantined


def test_a_day_being_ingested_is_not_reprocessed_at_the_same_time(loaded):
    with day_lock(loaded, DAYS[0].isoformat()), pytest.raises(RunLocked):
        reprocess_day(loaded, Run(DAYS[0], SAMPLE_LANDING_DIR, "blocked"), "blocked")
