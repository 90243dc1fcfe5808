"""Re-processing's pure parts: which stages it accepts, and rebuilding a document from what the warehouse kept."""

from __future__ import annotations

import json

import pytest

from khabar.ingest import parse_file
from khabar.reprocess import REPROCESS_STAGES, check_stages, rebuild_document

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("stages", [None, [], list(REPROCESS_STAGES), ["dedup", "strip", "date_tag", "normalize"]])
def test_the_whole_chain_is_accepted_in_any_spelling(stages):
    assert check_stages(stages) == REPROCESS_STAGES


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        (["dedup"], "runs strip"),  # no table keeps the body of a duplicate: dedup alone cannot run
        (["strip", "normalize"], "runs strip"),
        (["ingest"], "unknown stages"),  # the landing zone is never read again
        (["load"], "unknown stages"),
    ],
)
def test_other_choices_are_refused_with_the_reason(stages, message):
    with pytest.raises(ValueError, match=message):
        check_stages(stages)


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
