"""What a failed gate tells the operator (reporting.gate_results): the exact number of offending rows, a
few of them, from one scan of each row check; and the strip gate folds body lines as the lexicon does."""

from __future__ import annotations

import json
from datetime import date

import pytest

from helpers import query, stage_sample_day
from khabar import gates
from khabar.gates import GateFailed, GateSpec, validate_stage
from khabar.paths import SAMPLE_LANDING_DIR
from khabar.pipeline import Run

pytestmark = pytest.mark.integration
DAY = date(2022, 1, 25)
RUN_ID = DAY.isoformat()


@pytest.fixture(scope="module")
def normalized(fresh_db, tmp_path_factory):
    """The sample day ingested, stripped and normalized."""
    return stage_sample_day(fresh_db, tmp_path_factory, DAY, ("ingest", "strip", "normalize"))


def last_result(dsn: str, stage: str, description: str) -> dict:
    (details,) = query(
        dsn, "select details from reporting.gate_results where stage = %s order by gate_result_id desc limit 1", (stage,)
    )[0]
    (result,) = [r for r in details if r["description"] == description]
    return result


def test_a_failed_row_check_counts_every_row_and_shows_a_few(normalized):
    active = query(normalized, "select doc_id from staging.documents where run_id = %s and status = 'active'", (RUN_ID,))
    assert len(active) > gates.SAMPLE_ROWS
    query(normalized, "update staging.documents set body = body || ' ـx' where run_id = %s and status = 'active'", (RUN_ID,))
    try:
        with pytest.raises(GateFailed, match="control characters or U\\+FFFD"):
            validate_stage(normalized, "normalize", RUN_ID, DAY)
    finally:
        query(
            normalized,
            "update staging.documents set body = left(body, length(body) - 3) where run_id = %s and body like '%% ـx'",
            (RUN_ID,),
        )
    result = last_result(normalized, "normalize", "no Arabic-only letters, tatweel, control characters or U+FFFD in bodies")
    assert result["success"] is False and result["observed"] == len(active)
    assert len(result["sample"]) == gates.SAMPLE_ROWS
    ids = {doc_id for (doc_id,) in active}
    assert all(json.loads(s)["doc_id"] in ids for s in result["sample"])
    assert validate_stage(normalized, "normalize", RUN_ID, DAY)["success"]


def test_the_count_is_exact_beyond_the_rows_fetched(normalized, monkeypatch):
    """GX fetches at most 200 rows of a check; the count is still every row."""
    import great_expectations.expectations as gxe

    def suite(gxe_module, day):
        return GateSpec(
            "select doc_id from staging.documents where run_id = %(run_id)s",
            [gxe.UnexpectedRowsExpectation(
                description="a check that 1,234 rows fail",
                unexpected_rows_query="select g from generate_series(1, 1234) g where exists (select 1 from {batch})",
            )],
        )

    monkeypatch.setitem(gates.SUITES, "strip", suite)
    with pytest.raises(GateFailed, match="1,234 rows"):
        validate_stage(normalized, "strip", RUN_ID, DAY)
    result = last_result(normalized, "strip", "a check that 1,234 rows fail")
    assert result["observed"] == 1234 and [json.loads(s) for s in result["sample"]] == [{"g": str(i)} for i in range(1, 6)]


def test_the_strip_gate_folds_the_last_line_like_the_lexicon(normalized):
    """A furniture line anchored at its end («کد خبر 12345», then spaces) is found on a body's last line too:
    the gate trims every line as khabar.strip.fold_line does."""
    assert validate_stage(normalized, "strip", RUN_ID, DAY)["success"]
    (doc_id,) = query(
        normalized, "select min(doc_id) from staging.documents where run_id = %s and status = 'active'", (RUN_ID,)
    )[0]
    query(
        normalized,
        "update staging.documents set stripped_text = stripped_text || E'\\nكد\u200cخبر  12345  ' where run_id = %s and doc_id = %s",
        (RUN_ID, doc_id),
    )
    try:
        with pytest.raises(GateFailed, match="no body line matches a lexicon entry"):
            validate_stage(normalized, "strip", RUN_ID, DAY)
    finally:
        query(
            normalized,
            "update staging.documents set stripped_text = left(stripped_text, length(stripped_text) - 16)"
            " where run_id = %s and doc_id = %s",
            (RUN_ID, doc_id),
        )
    result = last_result(normalized, "strip", "no body line matches a lexicon entry (include/furniture.tsv)")
    assert result["observed"] == 1 and json.loads(result["sample"][0])["l"] == "کد خبر 12345"
    assert validate_stage(normalized, "strip", RUN_ID, DAY)["success"]


def test_a_gate_vacuums_the_staged_documents_before_it_checks_them(normalized):
    """Every stage rewrites each staged row; the gate after it vacuums staging.documents, so the next stage
    does not walk the dead versions (on a server whose autovacuum is off or behind)."""
    from khabar.pipeline import run_gate

    query(normalized, "update staging.documents set word_count = word_count where run_id = %s", (RUN_ID,))
    before = query(normalized, "select coalesce(vacuum_count, 0) from pg_stat_user_tables where relid = 'staging.documents'::regclass")
    run_gate(normalized, "normalize", Run(DAY, SAMPLE_LANDING_DIR))
    after = query(normalized, "select coalesce(vacuum_count, 0) from pg_stat_user_tables where relid = 'staging.documents'::regclass")
    assert after[0][0] == before[0][0] + 1


@pytest.mark.parametrize("blank", ["", "   ", " " * 3000], ids=["empty", "spaces", "long run of spaces"])
def test_the_strip_gate_fails_on_a_blank_body(normalized, blank):
    """The blank check reads only the start of a body (khabar.gates._blank): it still finds a body that
    is empty or only spaces, however long."""
    (doc_id, kept) = query(
        normalized,
        "select doc_id, stripped_text from staging.documents where run_id = %s and status = 'active' order by doc_id limit 1",
        (RUN_ID,),
    )[0]
    query(normalized, "update staging.documents set stripped_text = %s where run_id = %s and doc_id = %s", (blank, RUN_ID, doc_id))
    try:
        with pytest.raises(GateFailed, match="no body is empty after boilerplate removal"):
            validate_stage(normalized, "strip", RUN_ID, DAY)
    finally:
        query(normalized, "update staging.documents set stripped_text = %s where run_id = %s and doc_id = %s", (kept, RUN_ID, doc_id))
    assert last_result(normalized, "strip", "no body is empty after boilerplate removal")["observed"] == 1
    assert validate_stage(normalized, "strip", RUN_ID, DAY)["success"]


@pytest.mark.parametrize(
    ("words", "separator", "fails"),
    [
        (13, " ", True),  # 14 words with «برچسب ها»: a short line, whole-line furniture
        (14, " ", False),  # 15 words: too long for whole-line furniture, as in the strip step
        (13, " \t ", True),  # runs of spaces and tabs count as one space
        (13, "\u200c ", True),  # ZWNJ folds to a space, and the run to one
    ],
    ids=["14 words", "15 words", "runs of spaces and tabs", "zwnj and a space"],
)
def test_the_strip_gate_checks_whole_line_furniture_on_short_lines_only(normalized, words, separator, fails):
    """Whole-line entries (here «برچسب ها: ...», a tag list) apply to lines of at most
    FURNITURE_LINE_MAX_WORDS (14) words once folded, as khabar.strip applies them; a longer line passes."""
    (doc_id, kept) = query(
        normalized,
        "select doc_id, stripped_text from staging.documents where run_id = %s and status = 'active' order by doc_id limit 1",
        (RUN_ID,),
    )[0]
    line = "برچسب ها:" + "".join(f"{separator}واژه{i}" for i in range(words - 1))
    query(normalized, "update staging.documents set stripped_text = %s where run_id = %s and doc_id = %s",
          (kept + "\n" + line, RUN_ID, doc_id))
    try:
        if fails:
            with pytest.raises(GateFailed, match="no body line matches a lexicon entry"):
                validate_stage(normalized, "strip", RUN_ID, DAY)
        else:
            assert validate_stage(normalized, "strip", RUN_ID, DAY)["success"]
    finally:
        query(normalized, "update staging.documents set stripped_text = %s where run_id = %s and doc_id = %s", (kept, RUN_ID, doc_id))
    result = last_result(normalized, "strip", "no body line matches a lexicon entry (include/furniture.tsv)")
    assert result["observed"] == (1 if fails else 0)


@pytest.fixture(scope="module")
def dated(normalized):
    """The sample day through date_tag too."""
    from khabar.paths import SAMPLE_LANDING_DIR
    from khabar.pipeline import STAGE_FUNCTIONS

    STAGE_FUNCTIONS["date_tag"](normalized, Run(DAY, SAMPLE_LANDING_DIR))
    return normalized


@pytest.mark.parametrize(
    "change",
    [
        "start_char = start_char + 1",  # the span no longer holds the surface
        "surface = surface || 'x'",  # a surface longer than its span
        "end_char = end_char + 1",  # a span longer than its surface
        "start_char = start_char + 100000, end_char = end_char + 100000",  # past the end of the body
        "start_char = -1",
        "end_char = start_char - 1",  # a span that ends before it starts
    ],
)
def test_the_date_tag_gate_fails_on_a_mention_that_is_not_its_span(dated, change):
    (doc_id, start) = query(
        dated,
        "select m.doc_id, min(m.start_char) from staging.date_mentions m join staging.documents d"
        " on d.run_id = m.run_id and d.doc_id = m.doc_id where m.run_id = %s and d.status = 'active'"
        " group by m.doc_id order by m.doc_id limit 1",
        (RUN_ID,),
    )[0]
    assert validate_stage(dated, "date_tag", RUN_ID, DAY)["success"]
    key = "run_id = %s and doc_id = %s"
    (kept,) = query(dated, f"select json_agg(m)::text from staging.date_mentions m where {key}", (RUN_ID, doc_id))[0]
    query(dated, f"update staging.date_mentions set {change} where {key} and start_char = %s", (RUN_ID, doc_id, start))
    try:
        with pytest.raises(GateFailed, match="every date mention is a span of its body"):
            validate_stage(dated, "date_tag", RUN_ID, DAY)
    finally:
        query(dated, f"delete from staging.date_mentions where {key}", (RUN_ID, doc_id))
        query(dated, "insert into staging.date_mentions select * from json_populate_recordset(null::staging.date_mentions, %s::json)", (kept,))
    assert last_result(dated, "date_tag", "every date mention is a span of its body with the surface text it names")["observed"] == 1
