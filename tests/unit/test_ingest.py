from __future__ import annotations

import json
import os
from datetime import date, datetime

import pytest

from khabar.ingest import (
    REASON_BINARY,
    REASON_EMPTY,
    REASON_NO_BODY,
    TEHRAN,
    Rejected,
    decode_bytes,
    discover_files,
    ingest_file,
    parse_file,
)

pytestmark = pytest.mark.unit
TEXT = "همکاری‌های نظامی ایران و جمهوری آذربایجان توسعه می‌یابد"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (b"\xef\xbb\xbf" + TEXT.encode("utf-8"), "utf-8"),  # BOM dropped from the text
        (TEXT.encode("utf-16"), "utf-16"),  # BOM tells the byte order
        (TEXT.encode("utf-16-le"), "utf-16-le"),  # no BOM: the zero-free high bytes (0x06) tell it
        (TEXT.encode("utf-16-be"), "utf-16-be"),
        (TEXT.replace("\u200c", " ").replace("ی", "ي").encode("cp1256"), "cp1256"),  # legacy pages: Arabic ي
    ],
)
def test_decode_bytes_reads_every_supported_encoding(data, encoding):
    text, found = decode_bytes(data)
    assert found == encoding
    assert "آذرب" in text and "جمهوری" in text.replace("ي", "ی")
    assert not text.startswith("\ufeff")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", REASON_EMPTY),
        (b"  \n\t ", REASON_EMPTY),
        (bytes(range(256)) * 4, REASON_BINARY),
        (b"\x1f\x8b\x08\x00" + os.urandom(64) + b"\x00\x00", REASON_BINARY),
    ],
)
def test_decode_bytes_rejects_with_a_reason(data, reason):
    with pytest.raises(Rejected, match=reason):
        decode_bytes(data)


def test_jsonl_bad_records_are_quarantined_one_by_one():
    lines = [
        json.dumps({"title": "الف", "paragraphs": ["متن خبر اول"]}, ensure_ascii=False),
        '{"title": "broken',
        json.dumps({"title": "بدون متن"}, ensure_ascii=False),
        json.dumps({"title": "ب", "body": "متن خبر دوم"}, ensure_ascii=False),
    ]
    docs, bad = parse_file("2022-01-25/feed.jsonl", "\n".join(lines), "jsonl", "f1")
    assert [d.record_index for d in docs] == [0, 3]
    assert [(q.record_index, q.reason.split(":")[0]) for q in bad] == [(1, "invalid JSON"), (2, REASON_NO_BODY)]


def test_discover_partition_and_loose_files_by_mtime(tmp_path):
    day = date(2022, 1, 25)
    (tmp_path / "2022-01-25" / "sub").mkdir(parents=True)
    (tmp_path / "2022-01-25" / "sub" / "a.txt").write_text("x")
    (tmp_path / "2022-01-26").mkdir()
    (tmp_path / "2022-01-26" / "b.txt").write_text("x")
    inside = tmp_path / "loose_in.txt"
    outside = tmp_path / "loose_out.txt"
    inside.write_text("x")
    outside.write_text("x")
    # 23:30 Tehran on the 25th is 20:00 UTC: still the 25th in Tehran
    t_in = datetime(2022, 1, 25, 23, 30, tzinfo=TEHRAN).timestamp()
    t_out = datetime(2022, 1, 26, 0, 30, tzinfo=TEHRAN).timestamp()
    os.utime(inside, (t_in, t_in))
    os.utime(outside, (t_out, t_out))
    found, refused = discover_files(tmp_path, day)
    assert [f.relpath for f in found] == ["2022-01-25/sub/a.txt", "loose_in.txt"]
    assert refused == []


def test_symlink_leaving_the_root_is_refused(tmp_path):
    (tmp_path / "land" / "2022-01-25").mkdir(parents=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("x")
    (tmp_path / "land" / "2022-01-25" / "link.txt").symlink_to(secret)
    found, refused = discover_files(tmp_path / "land", date(2022, 1, 25))
    assert found == []
    assert refused[0].reason == "path resolves outside the landing root"


def test_ingest_file_records_size_and_sha(tmp_path):
    from khabar.ingest import LandingFile

    path = tmp_path / "a.html"
    path.write_bytes("<p>سلام</p>".encode())
    info, docs, bad = ingest_file(LandingFile(path, "a.html"), max_bytes=1000)
    assert (info.status, info.size_bytes, len(info.sha256), len(docs), bad) == ("parsed", path.stat().st_size, 64, 1, [])
    info, docs, bad = ingest_file(LandingFile(path, "a.html"), max_bytes=5)
    assert info.status == "quarantined" and "larger than the configured limit" in bad[0].reason
