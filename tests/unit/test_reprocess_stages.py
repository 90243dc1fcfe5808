"""Re-processing's pure parts: which stages it accepts, and rebuilding a document from what the warehouse kept."""

from __future__ import annotations

import json

import pytest

from khabar.ingest import parse_file
from khabar.reprocess import REPROCESS_STAGES, check_stages, rebuild_document

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("stages", [None, [], list(REPROCESS_STAGES), ["dedup", "strip", "date_tag", "normalize"], ["strip"]])
def test_the_whole_chain_in_any_spelling_and_strip_alone_run_everything(stages):
    # strip alone: normalize reads its text, date-tag and dedup what normalize writes
    assert check_stages(stages) == REPROCESS_STAGES


@pytest.mark.parametrize(
    ("stages", "runs"),
    [
        (["dedup"], ("dedup",)),
        (["date_tag"], ("date_tag", "dedup")),  # dedup orders documents by their dates
        (["normalize"], ("normalize", "date_tag", "dedup")),
        (["dedup", "normalize"], ("normalize", "date_tag", "dedup")),
    ],
)
def test_a_part_runs_from_its_first_stage_with_every_later_stage_that_reads_it(stages, runs):
    assert check_stages(stages) == runs


@pytest.mark.parametrize("stages", [["ingest"], ["load"], ["dedup", "tokenize"]])
def test_other_stages_are_refused(stages):
    # ingest would read the landing zone again; load always runs
    with pytest.raises(ValueError, match="unknown stages"):
        check_stages(stages)


def test_strip_title_follows_the_stripper():
    from khabar.reprocess import strip_title
    from khabar.strip import Stripper

    for fmt, text, raw_title in [
        ("html", "<html><head><title>عنوان صفحه</title></head><body><p>متن خبر اینجا است و ادامه دارد.</p></body></html>", None),
        ("txt", "عنوان کوتاه\nمتن خبر اینجا است و ادامه دارد و ادامه دارد.\n", None),
        ("json", json.dumps({"title": " تیتر ", "body": "متن خبر."}, ensure_ascii=False), " تیتر "),
    ]:
        doc = rebuild_document(f"2022-01-25/a.{fmt}", 0, text, fmt, "utf-8")
        stripped = Stripper().strip_document(rebuild_document(f"2022-01-25/a.{fmt}", 0, text, fmt, "utf-8"))
        line = next((s.line for s in stripped.stripped if s.rule == "title"), None)
        assert doc.raw_title == raw_title
        assert strip_title(doc.raw_title, fmt, stripped.meta, line) == stripped.title, fmt


RECORDS = [
    {"title": "افزایش قیمت نان", "body": "قیمت نان در تهران افزایش یافت.", "link": "https://www.farsnews.ir/news/14001105000123", "date": "1400/11/05"},
    {"paragraphs": ["بند یکم خبر.", "بند دوم خبر."], "cat": "اقتصادی", "tags": ["نان", "قیمت"]},
]


@pytest.mark.parametrize("index", range(len(RECORDS)))
def test_a_json_record_is_rebuilt_as_ingest_made_it(index):
    text = "\n".join(json.dumps(r, ensure_ascii=False) for r in RECORDS)
    ingested = parse_file("2022-01-25/feed.jsonl", text, "jsonl", "f")[0][index]
    ingested.meta["encoding"] = "utf-8"
    # what load stores in raw_text for a record: the record's JSON text
    rebuilt = rebuild_document("2022-01-25/feed.jsonl", index, ingested.raw_text, "jsonl", "utf-8")
    assert (rebuilt.doc_id, rebuilt.record_index, rebuilt.raw_title, rebuilt.meta, rebuilt.raw_text, rebuilt.file_format) == (
        ingested.doc_id, ingested.record_index, ingested.raw_title, ingested.meta, ingested.raw_text, ingested.file_format
    )


@pytest.mark.parametrize("fmt", ["txt", "html"])
def test_a_text_or_page_is_rebuilt_from_its_text(fmt):
    text = "<p>خبرگزاری مهر: سلام</p>" if fmt == "html" else "خبرگزاری مهر: سلام\n"
    (ingested,), _ = parse_file(f"2022-01-26/a.{fmt}", text, fmt, "f")
    rebuilt = rebuild_document(f"2022-01-26/a.{fmt}", 0, ingested.raw_text, fmt, "windows-1256")
    assert (rebuilt.doc_id, rebuilt.raw_text, rebuilt.file_format, rebuilt.meta) == (
        ingested.doc_id, ingested.raw_text, fmt, {"encoding": "windows-1256"}
    )
