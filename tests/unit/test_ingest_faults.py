"""Hostile landing files, one test per input the reliability issue names: each is generated here,
in a tmp dir, and must end as documents or as a quarantine row with its reason, never as an
exception that kills the run."""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import date
from pathlib import Path

import pytest

import khabar.ingest as ingest
from khabar.ingest import (
    REASON_BINARY,
    REASON_CHANGED,
    REASON_DANGLING,
    REASON_DIR_LINK,
    REASON_EMPTY,
    REASON_LOOP,
    REASON_NO_BODY,
    REASON_OUTSIDE,
    REASON_TOO_LARGE,
    REASON_UNDECODABLE,
    LandingFile,
    discover_files,
    ingest_file,
)

pytestmark = pytest.mark.unit
DAY = date(2022, 1, 25)
TEXT = "به گزارش خبرگزاری مهر، مانور زلزله در مدارس منطقه ۱۲ تهران برگزار شد و دانش‌آموزان شرکت کردند."
MiB = 1024 * 1024


def _land(tmp_path: Path, name: str, data: bytes) -> LandingFile:
    path = tmp_path / "2022-01-25" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return LandingFile(path, path.relative_to(tmp_path).as_posix())


def _ingest(tmp_path, name, data, max_bytes=50 * MiB):
    return ingest_file(_land(tmp_path, name, data), max_bytes, tmp_path / "evidence")


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", REASON_EMPTY),
        ("blank.txt", b" \r\n\t\n", REASON_EMPTY),
        # a PNG saved under a .txt name by a scraper
        ("photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8, REASON_BINARY),
        ("gzip.html", b"\x1f\x8b\x08\x00" + bytes(range(255, -1, -1)) * 4, REASON_BINARY),
        # Latin-1 French: not UTF-8, and cp1256 would turn it into a few Arabic letters among Latin ones
        ("latin1.txt", "Les élèves ont participé à l'exercice préparé à Téhéran, très bien organisé.".encode("latin-1"),
         REASON_UNDECODABLE),
    ],
)
def test_unreadable_files_are_quarantined_with_their_reason_and_bytes(tmp_path, name, data, reason):
    info, docs, bad = _ingest(tmp_path, name, data)
    assert (info.status, docs) == ("quarantined", [])
    (q,) = bad
    assert q.reason == reason
    assert q.record_index == -1 and q.size_bytes == len(data)
    assert q.sha256 == hashlib.sha256(data).hexdigest()
    # the evidence: the very bytes, under the quarantine folder, keyed by their sha256
    assert (tmp_path / "evidence" / q.evidence_path).read_bytes() == data
    assert q.evidence_path == f"{q.sha256[:2]}/{q.sha256}"


@pytest.mark.parametrize(
    ("name", "data", "encoding"),
    [
        ("bom.txt", b"\xef\xbb\xbf" + TEXT.encode("utf-8"), "utf-8"),
        ("le_bom.txt", TEXT.encode("utf-16"), "utf-16"),  # Python writes the native (LE) BOM
        ("be_bom.txt", b"\xfe\xff" + TEXT.encode("utf-16-be"), "utf-16"),
        ("le.txt", TEXT.encode("utf-16-le"), "utf-16-le"),
        ("be.txt", TEXT.encode("utf-16-be"), "utf-16-be"),
        # a legacy page: Windows-1256 has no ZWNJ-free «ی»/«ک», so they are written Arabic-style
        ("legacy.txt", TEXT.replace("\u200c", " ").replace("ی", "ي").replace("۱۲", "12").encode("cp1256"), "cp1256"),
    ],
)
def test_every_encoding_is_read(tmp_path, name, data, encoding):
    info, (doc,), bad = _ingest(tmp_path, name, data)
    assert (info.status, info.encoding, bad) == ("parsed", encoding, [])
    assert "مانور" in doc.raw_text and not doc.raw_text.startswith("\ufeff")


def test_mixed_encodings_in_one_file_are_quarantined(tmp_path):
    # half UTF-8, half Windows-1256: neither decoder reads it all
    data = TEXT.encode("utf-8") + b"\n" + TEXT.replace("ی", "ي").replace("\u200c", " ").replace("۱۲", "12").encode("cp1256")
    _info, docs, (q,) = _ingest(tmp_path, "mixed.txt", data)
    assert docs == [] and q.reason == REASON_UNDECODABLE  # not read as cp1256 mojibake


def test_an_invalid_sequence_in_persian_utf8_is_replaced_not_read_as_cp1256(tmp_path):
    data = TEXT[:20].encode() + b"\xc3\x28" + TEXT[20:].encode()  # an invalid 2-byte sequence in the middle
    info, docs, bad = _ingest(tmp_path, "invalid.txt", data)
    # one damaged byte in a Persian UTF-8 article: read as UTF-8 with U+FFFD, not as cp1256 mojibake
    assert (info.encoding, bad) == ("utf-8", [])
    assert "\ufffd" in docs[0].raw_text and "مانور زلزله" in docs[0].raw_text


def test_a_stray_nul_is_dropped_postgresql_text_cannot_hold_it(tmp_path):
    _, (doc,), bad = _ingest(tmp_path, "nul.txt", TEXT.encode() + b"\x00" + TEXT.encode())
    assert "\x00" not in doc.raw_text and bad == []


@pytest.mark.parametrize(
    "html",
    [
        # truncated mid-tag: the download stopped inside an attribute
        f"<html><head><title>مانور</title></head><body><article><p>{TEXT}</p><p class=\"lea",
        # no <body> at all: lxml still finds the paragraph
        f"<p>{TEXT}</p>",
    ],
)
def test_truncated_or_bodyless_html_still_yields_its_text(tmp_path, html):
    from khabar.strip import Stripper

    _info, (doc,), bad = _ingest(tmp_path, "page.html", html.encode())
    assert bad == []
    Stripper().strip_document(doc)
    assert "مانور زلزله" in doc.stripped_text


def test_html_with_nothing_but_a_head_is_empty_after_stripping(tmp_path):
    from khabar.strip import Stripper

    _info, (doc,), _bad = _ingest(tmp_path, "head.html", b"<html><head><title>x</title><script>var a;</script></head></html>")
    Stripper().strip_document(doc)
    assert doc.stripped_text.strip() == ""  # the strip stage quarantines it: «empty after boilerplate removal»


def test_jsonl_good_records_load_bad_ones_are_quarantined_one_by_one_with_their_text(tmp_path):
    lines = [
        json.dumps({"title": "یک", "body": TEXT}, ensure_ascii=False),
        '{"title": "بریده',  # truncated download
        json.dumps({"title": "بی‌متن"}, ensure_ascii=False),
        "[1, 2]",
        json.dumps({"title": "دو", "paragraphs": [TEXT, "ادامه"]}, ensure_ascii=False),
    ]
    data = "\n".join(lines).encode()
    info, docs, bad = _ingest(tmp_path, "feed.jsonl", data)
    assert info.status == "parsed"
    assert [d.record_index for d in docs] == [0, 4]
    assert [(q.record_index, q.reason.split(":")[0]) for q in bad] == [
        (1, "invalid JSON"), (2, REASON_NO_BODY), (3, "JSON record is not an object"),
    ]
    assert bad[0].raw_record == lines[1] and json.loads(bad[1].raw_record) == {"title": "بی‌متن"}
    # every bad record points at one copy of the file, so it can be fixed and re-run
    assert {q.evidence_path for q in bad} == {f"{info.sha256[:2]}/{info.sha256}"}
    assert (tmp_path / "evidence" / bad[0].evidence_path).read_bytes() == data


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[" * 100_000 + "]" * 100_000, "invalid JSON: nested too deeply"),  # RecursionError inside json
        ('{"body": "x", "n": ' + "7" * 5000 + "}", "invalid JSON: Exceeds the limit"),  # int digits limit
    ],
)
def test_json_that_crashes_the_parser_is_a_reason(tmp_path, text, reason):
    _info, docs, (q,) = _ingest(tmp_path, "bomb.json", text.encode())
    assert docs == [] and q.reason.startswith(reason)


def test_json_escapes_postgresql_refuses_are_made_storable(tmp_path):
    record = '{"title": "a\\u0000b", "body": "متن\\u0000 خبر \\ud800", "link": "\\udfff"}'
    _info, (doc,), _bad = _ingest(tmp_path, "esc.json", record.encode())
    stored = doc.raw_text + json.dumps(doc.meta, ensure_ascii=False)
    assert "\x00" not in stored
    stored.encode("utf-8")  # would raise on a lone surrogate


def test_a_50_mb_file_is_quarantined_unread_and_copied_not_put_in_the_database(tmp_path):
    path = tmp_path / "2022-01-25" / "dump.txt"
    path.parent.mkdir(parents=True)
    block = (TEXT + "\n").encode() * 1000
    with path.open("wb") as fh:
        while fh.tell() < 50 * MiB:
            fh.write(block)
    size = path.stat().st_size
    _info, docs, (q,) = ingest_file(LandingFile(path, "2022-01-25/dump.txt"), 50 * MiB, tmp_path / "evidence")
    assert docs == [] and q.reason.startswith(REASON_TOO_LARGE) and str(size) in q.reason
    assert q.raw_record is None  # nothing of it goes to the database
    copy = tmp_path / "evidence" / q.evidence_path
    assert copy.stat().st_size == size and q.sha256 == hashlib.sha256(copy.read_bytes()).hexdigest()


def test_a_persian_file_name_with_spaces_is_discovered_and_read(tmp_path):
    name = "گزارش مانور زلزله مدارس.txt"
    _land(tmp_path, name, TEXT.encode())
    (found,), refused = discover_files(tmp_path, DAY)
    assert (found.relpath, refused) == (f"2022-01-25/{name}", [])
    _info, (doc,), _ = ingest_file(found, 50 * MiB)
    assert doc.source_path == f"2022-01-25/{name}"


def test_symlinks_loops_dangling_and_directories_are_refused_with_reasons_and_never_followed(tmp_path):
    root = tmp_path / "landing"
    part = root / "2022-01-25"
    part.mkdir(parents=True)
    (part / "ok.txt").write_text(TEXT)
    (part / "loop_a.txt").symlink_to(part / "loop_b.txt")
    (part / "loop_b.txt").symlink_to(part / "loop_a.txt")
    (part / "self").symlink_to(part / "self")
    (part / "gone.txt").symlink_to(part / "nowhere.txt")
    (part / "subdir_link").symlink_to(part)  # a directory loop through a link
    (part / "alias.txt").symlink_to(part / "ok.txt")  # inside the root: read like a file
    found, refused = discover_files(root, DAY)
    assert [f.relpath for f in found] == ["2022-01-25/alias.txt", "2022-01-25/ok.txt"]
    assert {q.source_path.split("/")[-1]: q.reason for q in refused} == {
        "loop_a.txt": REASON_LOOP, "loop_b.txt": REASON_LOOP, "self": REASON_LOOP,
        "gone.txt": REASON_DANGLING, "subdir_link": REASON_DIR_LINK,
    }


@pytest.mark.parametrize("absolute", [True, False], ids=["absolute symlink", "relative ../ symlink"])
def test_paths_leaving_the_landing_root_are_refused(tmp_path, absolute):
    root = tmp_path / "landing"
    (root / "2022-01-25").mkdir(parents=True)
    secret = tmp_path / "etc_passwd.txt"
    secret.write_text("root:x:0:0")
    (root / "2022-01-25" / "innocent.txt").symlink_to(secret if absolute else Path("../../etc_passwd.txt"))
    # a loose file at the root, dated by the link's own mtime
    (root / "loose.txt").symlink_to(secret if absolute else Path("../etc_passwd.txt"))
    stamp = ingest.day_bounds(DAY)[0].timestamp() + 3600
    os.utime(root / "loose.txt", (stamp, stamp), follow_symlinks=False)
    found, refused = discover_files(root, DAY)
    assert found == []
    assert [(q.source_path, q.reason) for q in refused] == [
        ("2022-01-25/innocent.txt", REASON_OUTSIDE), ("loose.txt", REASON_OUTSIDE),
    ]


def test_a_file_modified_between_two_stats_is_read_again(tmp_path, monkeypatch):
    lf = _land(tmp_path, "growing.txt", TEXT.encode())
    real = ingest._read_bytes
    calls = []

    def read_then_append(path):
        data = real(path)
        if not calls:  # the scraper appends once, while we read
            with path.open("ab") as fh:
                fh.write(("\n" + TEXT).encode())
        calls.append(len(data))
        return data

    monkeypatch.setattr(ingest, "_read_bytes", read_then_append)
    info, (doc,), _bad = ingest_file(lf, 50 * MiB)
    assert len(calls) == 2 and calls[1] > calls[0]
    assert doc.raw_text.count("مانور") == 2 and info.size_bytes == calls[1]


def test_a_file_that_keeps_changing_is_quarantined(tmp_path, monkeypatch):
    lf = _land(tmp_path, "busy.txt", TEXT.encode())
    real = ingest._read_bytes

    def read_then_append(path):
        data = real(path)
        with path.open("ab") as fh:
            fh.write(b"x")
        return data

    monkeypatch.setattr(ingest, "_read_bytes", read_then_append)
    info, docs, (q,) = ingest_file(lf, 50 * MiB, tmp_path / "evidence")
    assert (docs, q.reason, info.status) == ([], REASON_CHANGED, "quarantined")


def test_the_same_bytes_under_two_names_are_both_read_and_share_one_evidence_copy(tmp_path):
    a = _ingest(tmp_path, "a.txt", b"\x00\x01binary\x02" * 50)
    b = _ingest(tmp_path, "copy of a.txt", b"\x00\x01binary\x02" * 50)
    assert a[0].sha256 == b[0].sha256 and a[2][0].evidence_path == b[2][0].evidence_path
    assert len(list((tmp_path / "evidence").rglob("*"))) == 2  # one folder, one copy


def test_a_fifo_or_a_symlinked_partition_is_refused_never_opened(tmp_path):
    from khabar.ingest import REASON_NOT_REGULAR, landing_days

    root = tmp_path / "landing"
    (root / "2022-01-25").mkdir(parents=True)
    os.mkfifo(root / "2022-01-25" / "pipe.txt")  # reading it would block the run forever
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "a.txt").write_text(TEXT)
    (root / "2022-01-26").symlink_to(elsewhere)
    found, refused = discover_files(root, DAY)
    assert (found, [(q.source_path, q.reason) for q in refused]) == ([], [("2022-01-25/pipe.txt", REASON_NOT_REGULAR)])
    assert date(2022, 1, 26) in landing_days(root)  # its day still runs, and refuses it with a reason
    found, refused = discover_files(root, date(2022, 1, 26))
    assert (found, [(q.source_path, q.reason) for q in refused]) == ([], [("2022-01-26", REASON_OUTSIDE)])


def test_a_full_disk_while_keeping_evidence_does_not_crash_the_run(tmp_path, monkeypatch):
    import errno as errno_codes

    def no_space(self, data):
        raise OSError(errno_codes.ENOSPC, "No space left on device")

    (tmp_path / "x.txt").write_bytes(b"\x00\x01" * 50)
    monkeypatch.setattr(Path, "write_bytes", no_space)
    _, docs, (q,) = ingest_file(LandingFile(tmp_path / "x.txt", "x.txt"), 50 * MiB, tmp_path / "evidence")
    # quarantined with its reason and sha256, but no copy: the load gate's evidence check fails the run
    assert (docs, q.reason, q.evidence_path) == ([], REASON_BINARY, None) and q.sha256
    assert not list((tmp_path / "evidence").rglob("*.tmp"))


def test_a_50_mb_file_under_the_limit_is_read_whole_in_seconds(tmp_path):
    # 50 MB (decimal) is under the default 50 MiB limit: read, hashed and decoded, not quarantined
    line = (TEXT + "\n").encode()
    lf = _land(tmp_path, "dump.txt", line * (50_000_000 // len(line)))
    started = time.perf_counter()
    info, (doc,), bad = ingest_file(lf, 50 * MiB, tmp_path / "evidence")
    assert (info.status, info.encoding, bad) == ("parsed", "utf-8", [])
    assert info.size_bytes > 49_000_000 and doc.raw_text.count("\n") == 50_000_000 // len(line)
    assert time.perf_counter() - started < 30  # per-character loops over it took ~40 s before sampling
