"""Property-based tests: any bytes in, documents or a quarantine reason out; never an exception
that would kill a run, and never a string PostgreSQL would refuse (NUL, lone surrogates)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from khabar.document import Document
from khabar.ingest import FORMATS, LandingFile, Rejected, decode_bytes, ingest_file, parse_file

pytestmark = pytest.mark.unit
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
PERSIAN = st.text(alphabet=st.sampled_from("ابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهیيكئء‌ ۰۱۲۳٬،.\n<>/\"'{}[]:,\\\x00"), max_size=200)
# JSON values with hostile strings: NUL, surrogates, Persian, markup
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30) | PERSIAN,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["title", "body", "text", "paragraphs", "content", "link", "date", "tags", "x"]), children, max_size=5),
    max_leaves=20,
)
_STRIPPER = None


def stripper():
    global _STRIPPER
    if _STRIPPER is None:
        from khabar.strip import Stripper

        _STRIPPER = Stripper()
    return _STRIPPER


def assert_storable(doc: Document) -> None:
    """What the ingest stage writes for a document: PostgreSQL text and jsonb must take it."""
    for value in (doc.raw_text, doc.raw_title or "", json.dumps(doc.meta, ensure_ascii=False)):
        assert "\x00" not in value and "\\u0000" not in value
        value.encode("utf-8")  # raises on a lone surrogate


@SETTINGS
@given(st.binary(max_size=2000))
def test_decode_bytes_returns_text_or_a_reason(data):
    try:
        text, encoding = decode_bytes(data)
    except Rejected as exc:
        assert str(exc)
        return
    assert encoding in ("utf-8", "utf-16", "utf-16-le", "utf-16-be", "cp1256")
    assert text.strip() and "\x00" not in text


@SETTINGS
@given(st.text(max_size=500), st.sampled_from(["txt", "html", "json", "jsonl"]))
def test_parse_file_any_text(text, fmt):
    try:
        docs, bad = parse_file("2022-01-25/x", text, fmt, "f")
    except Rejected as exc:  # a whole JSON file that does not parse
        assert fmt == "json" and str(exc).startswith("invalid JSON")
        return
    for doc in docs:
        assert_storable(doc)
    assert all(q.reason and q.record_index >= 0 for q in bad)


@SETTINGS
@given(st.lists(st.one_of(JSON_VALUES.map(lambda v: json.dumps(v, ensure_ascii=False)), PERSIAN), max_size=8))
def test_jsonl_splitting_accounts_for_every_line(lines):
    text = "\n".join(lines)
    docs, bad = parse_file("2022-01-25/feed.jsonl", text, "jsonl", "f")
    non_blank = [ln for ln in text.replace("\x00", "").split("\n") if ln.strip()]  # a NUL is dropped on reading
    # conservation inside a file: every non-blank line is one document or one quarantined record
    assert sorted([d.record_index for d in docs] + [q.record_index for q in bad]) == list(range(len(non_blank)))
    for doc in docs:
        assert_storable(doc)
        stripper().strip_document(doc)  # the strip step re-reads the record: it must take it too


@SETTINGS
@given(JSON_VALUES)
def test_json_arrays_and_objects_split_into_records(value):
    docs, bad = parse_file("2022-01-25/batch.json", json.dumps(value, ensure_ascii=False), "json", "f")
    expected = len(value) if isinstance(value, list) else 1
    assert len(docs) + len(bad) == expected
    for doc in docs:
        assert_storable(doc)


@SETTINGS
@given(st.binary(max_size=1500), st.sampled_from(sorted(FORMATS)))
def test_ingest_file_any_bytes_any_suffix(tmp_path, data, suffix):
    path = tmp_path / f"f{suffix}"
    path.write_bytes(data)
    info, docs, bad = ingest_file(LandingFile(path, path.name), 1000, tmp_path / "evidence")
    assert docs or bad  # a document or a reason: never nothing
    assert info.status == ("parsed" if docs else "quarantined")
    for doc in docs:
        assert_storable(doc)


@SETTINGS
@given(st.one_of(PERSIAN, st.text(max_size=300)), st.sampled_from(["<p>", "<div class='news-body'>", "<article>", "<!--", "<scr"]))
def test_strip_extracts_html_without_raising(body, opening):
    doc = Document("d", "f", "x.html", 0, "html", f"<html><body>{opening}{body}")
    stripper().strip_document(doc)
    assert isinstance(doc.stripped_text, str)


@SETTINGS
@given(st.binary(max_size=1500))
def test_strip_takes_whatever_ingest_produced_from_any_bytes(tmp_path, data):
    for suffix in (".html", ".txt"):
        path = tmp_path / f"g{suffix}"
        path.write_bytes(b"<html><body><p>" + data if suffix == ".html" else data)
        _, docs, _ = ingest_file(LandingFile(path, path.name), 5000)
        for doc in docs:
            stripper().strip_document(doc)
            assert isinstance(doc.stripped_text, str)
