"""Re-processing from the warehouse alone: the sample days are loaded, the landing zone is deleted, and
the days are re-processed with unchanged rules (nothing moves), again (same rows), with a changed
lexicon (the articles it touches are reported, the others not) and with changed dedup thresholds.

Then a part of the chain (migration 012): a stage re-runs from the stored output of the stages before it.
With unchanged rules every choice of stages leaves the rows the whole chain leaves and reports nothing; a
changed setting of a chosen stage (dedup thresholds, a date rule) is reported, and the whole chain run next
with the same setting finds nothing left to change."""

from __future__ import annotations

from datetime import date

import pytest

from helpers import DATA_TABLES, load_sample_days, query, table_checksums
from khabar.paths import SAMPLE_LANDING_DIR
from khabar.pipeline import Run, pipeline_version
from khabar.reprocess import REPROCESS_STAGES, ReprocessError, rebuild_document, reprocess_day, reprocess_range
from khabar.warehouse import RunLocked, day_lock

pytestmark = pytest.mark.integration
DAYS = (date(2022, 1, 25), date(2022, 1, 26))


@pytest.fixture(scope="module")
def loaded(fresh_db, tmp_path_factory):
    """The sample days loaded from a copy of the landing zone, which is then deleted."""
    return load_sample_days(fresh_db, tmp_path_factory, DAYS)


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


# ------------------------------------------------------------------------------ a part of the chain (migration 012)


def data(dsn: str) -> dict:
    """Every reporting table's digest but runs' (its airflow_run_id names the last re-processing)."""
    return {k: v for k, v in table_checksums(dsn).items() if not k.startswith("runs")}


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


# ------------------------------------------------------------------------------ what the load keeps (migration 021)


def test_an_articles_lines_and_mentions_are_the_warehouses_and_the_others_are_kept(loaded):
    # the restore puts reporting.stripped_lines and date_mentions rows back into staging column for column
    columns = dict(query(loaded, "select table_schema || '.' || table_name, array_agg(column_name::text order by column_name)"
                                 " from information_schema.columns where table_name in ('stripped_lines', 'date_mentions')"
                                 " and table_schema in ('staging', 'reporting')"
                                 " and column_name not in ('run_id', 'doc_id', 'article_id') group by 1"))
    assert columns["staging.stripped_lines"] == columns["reporting.stripped_lines"]
    assert columns["staging.date_mentions"] == columns["reporting.date_mentions"]
    kept = query(loaded, "select o.article, o.row->>'status', o.body is null, o.stripped_text is null, o.row ? 'body',"
                         " count(*) from reporting.stage_outputs o where o.kind = 'document' group by 1, 2, 3, 4, 5")
    # an article's body is its warehouse row's; every other document keeps its own; no text inside the JSON
    assert {(article, status == "active", no_body, no_text, in_json) for article, status, no_body, no_text, in_json, _ in kept} \
        == {(True, True, True, False, False), (False, False, False, False, False)}
    assert query(loaded, "select count(*) from reporting.stage_outputs o join reporting.articles a on a.article_id = o.doc_id"
                         " where o.kind in ('stripped_line', 'date_mention')") == [(0,)]
    assert query(loaded, "select count(*) from reporting.stage_outputs where kind = 'stripped_line'")[0][0] > 0


def test_outputs_kept_before_migration_021_are_restored_as_before(loaded):
    """Rows kept in the earlier form (the whole row in the JSON, every document's lines and mentions) still
    restore the day: they are made here from the current ones, and a re-run of dedup alone leaves what the
    whole chain leaves."""
    reprocess_range(loaded, DAYS[0], DAYS[-1], "whole-chain")
    whole = data(loaded)
    query(loaded, """
        insert into reporting.stage_outputs (run_id, kind, doc_id, row)
        select o.run_id, 'stripped_line', s.article_id,
               jsonb_build_object('doc_id', s.article_id, 'line_no', s.line_no, 'line', s.line, 'rule', s.rule)
          from reporting.stage_outputs o join reporting.stripped_lines s on s.article_id = o.doc_id
         where o.kind = 'document' and o.article
        union all
        select o.run_id, 'date_mention', m.article_id, to_jsonb(m) - 'article_id' - 'run_id' || jsonb_build_object('doc_id', m.article_id)
          from reporting.stage_outputs o join reporting.date_mentions m on m.article_id = o.doc_id
         where o.kind = 'document' and o.article
        returning 1""")
    query(loaded, """
        update reporting.stage_outputs o
           set row = o.row || jsonb_build_object('stripped_text', o.stripped_text,
                                                 'body', case when o.article then a.body else o.body end),
               stripped_text = null, body = null, article = null
          from reporting.stage_outputs k left join reporting.articles a on a.article_id = k.doc_id and k.article
         where k.run_id = o.run_id and k.kind = o.kind and k.doc_id = o.doc_id and o.kind = 'document'
        returning 1""")
    assert query(loaded, "select count(*) from reporting.stage_outputs where kind = 'document' and article is not null") == [(0,)]

    summary = reprocess_range(loaded, DAYS[0], DAYS[-1], "old-outputs", ["dedup"])

    assert data(loaded) == whole and summary["documents_changed"] == 0
    # the load kept the days again, in the current form
    assert query(loaded, "select count(*) from reporting.stage_outputs where kind = 'document' and article is null") == [(0,)]
