"""File conservation end to end: a landing day holding every hostile input, run through all stages
and gates against a real PostgreSQL. Every file is loaded, quarantined with its evidence, or an
exact duplicate; the load gate fails a run that cannot balance; quarantined files can be fixed and
re-processed."""

from __future__ import annotations

import gc
import hashlib
import json
from datetime import date

import psycopg2
import pytest

from khabar import cli
from khabar.gates import GateFailed, validate_stage
from khabar.pipeline import Run, load, run_day

pytestmark = pytest.mark.integration
DAY = date(2022, 1, 25)
TEXT = (
    "به گزارش خبرگزاری مهر، مانور زلزله در مدارس منطقه ۱۲ تهران با حضور دانش‌آموزان برگزار شد.\n"
    "مدیر آموزش و پرورش منطقه گفت این مانور هر سال در آغاز بهمن ماه برگزار می‌شود."
)


def article(n: int) -> str:
    """A distinct article body: its own numbers and words, so dedup keeps them apart."""
    words = ["بارش", "برف", "جاده", "چالوس", "بسته", "شد", "پلیس", "راه", "هشدار", "داد", "رانندگان", "زنجیر"]
    return f"خبر شماره {n}: " + " ".join(words[(n + i) % len(words)] + str(n * 7 + i) for i in range(40))


# name → (bytes, expected outcome, expected quarantine reason prefix or None)
FILES = {
    "good.txt": (article(1).encode(), "loaded", None),
    "bom.txt": (b"\xef\xbb\xbf" + article(2).encode(), "loaded", None),
    "utf16le.txt": (article(3).encode("utf-16-le"), "loaded", None),
    "utf16be.txt": (b"\xfe\xff" + article(4).encode("utf-16-be"), "loaded", None),
    "legacy.txt": (article(5).replace("ی", "ي").encode("cp1256"), "loaded", None),
    "گزارش مانور زلزله.txt": (TEXT.encode(), "loaded", None),  # a Persian name with spaces
    "page.html": (f"<html><body><article><p>{article(6)}</p><p class=\"le".encode(), "loaded", None),  # truncated
    "saved again.txt": (article(1).encode(), "duplicate", None),  # the same bytes under a second, later name
    "empty.txt": (b"", "quarantined", "empty file"),
    "photo.txt": (b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)) * 4, "quarantined", "binary content"),
    "latin1.txt": ("Les élèves ont participé à l'exercice.".encode("latin-1"), "quarantined",
                   "not valid UTF-8, UTF-16 or Windows-1256"),
    "head_only.html": (b"<html><head><title>x</title></head></html>", "quarantined", "empty after boilerplate removal"),
    "notes.docx": (b"PK\x03\x04 not a news file", "quarantined", "unsupported file type"),
    "big.txt": (article(7).encode() * 100, "quarantined", "larger than the configured limit"),
}
FEED = [
    {"title": "یک", "body": article(8)},
    "{broken",
    {"title": "بدون متن"},
    {"title": "دو", "paragraphs": [article(9)]},
]
MAX_BYTES = 20_000  # big.txt is a hundred times a 0.6 kB article


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    root = tmp_path_factory.mktemp("landing")
    part = root / DAY.isoformat()
    part.mkdir()
    for name, (data, _, _) in FILES.items():
        (part / name).write_bytes(data)
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in FEED]
    (part / "feed.jsonl").write_text("\n".join(lines), encoding="utf-8")
    outside = tmp_path_factory.mktemp("outside") / "secret.txt"
    outside.write_text(article(10))
    (part / "absolute_link.txt").symlink_to(outside)
    (part / "dotdot_link.txt").symlink_to(f"../../{outside.parent.name}/secret.txt")
    (part / "loop.txt").symlink_to(part / "loop.txt")
    return root


@pytest.fixture(scope="module")
def run(landing, tmp_path_factory):
    return Run(DAY, landing, max_file_bytes=MAX_BYTES, quarantine_dir=tmp_path_factory.mktemp("quarantine"))


@pytest.fixture(scope="module")
def loaded(fresh_db, run):
    return fresh_db, run_day(fresh_db, run)  # every gate must pass


def query(dsn, sql, params=()):
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def test_every_file_has_exactly_the_expected_outcome(loaded):
    dsn, _ = loaded
    outcomes = dict(query(dsn, "select source_path, outcome from reporting.files where run_id = %s", (DAY.isoformat(),)))
    expected = {f"{DAY}/{name}": outcome for name, (_, outcome, _) in FILES.items()}
    expected |= {
        f"{DAY}/feed.jsonl": "loaded",  # two good records loaded, two bad ones quarantined one by one
        f"{DAY}/absolute_link.txt": "quarantined",
        f"{DAY}/dotdot_link.txt": "quarantined",
        f"{DAY}/loop.txt": "quarantined",
    }
    assert outcomes == expected


def test_file_and_document_conservation_balance(loaded):
    dsn, result = loaded
    ((files, f_loaded, f_dup, f_quar, docs, arts, dups, quar),) = query(
        dsn,
        "select files_discovered, files_loaded, files_duplicate, files_quarantined, documents_seen, articles_loaded,"
        " duplicates, quarantined from reporting.runs",
    )
    assert files == len(FILES) + 4 == f_loaded + f_dup + f_quar
    assert (f_loaded, f_dup) == (8, 1)
    assert docs == arts + dups + quar
    assert result["load"]["files"] == files


def test_quarantine_keeps_reasons_and_evidence(loaded, run):
    dsn, _ = loaded
    rows = query(
        dsn,
        "select source_path, record_index, stage, reason, sha256, size_bytes, evidence_path, raw_record"
        " from reporting.quarantine order by 1, 2",
    )
    by_key = {(r[0].split("/", 1)[1], r[1]): r for r in rows}
    for name, (data, outcome, reason) in FILES.items():
        if outcome != "quarantined":
            continue
        index = 0 if reason == "empty after boilerplate removal" else -1
        _, _, stage, got_reason, sha, size, evidence, raw = by_key[(name, index)]
        assert got_reason.startswith(reason), name
        assert (sha, size) == (hashlib.sha256(data).hexdigest(), len(data)), name
        if stage == "ingest":
            assert (run.quarantine_dir / evidence).read_bytes() == data, name
            assert raw is None
        else:  # quarantined by a later stage: its text as read is kept in the row
            assert stage == "strip" and raw == data.decode()
    assert by_key[("feed.jsonl", 1)][3].startswith("invalid JSON") and by_key[("feed.jsonl", 1)][7] == "{broken"
    assert json.loads(by_key[("feed.jsonl", 2)][7]) == {"title": "بدون متن"}
    assert by_key[("loop.txt", -1)][3] == "symlink loop"
    assert by_key[("absolute_link.txt", -1)][3] == by_key[("dotdot_link.txt", -1)][3] == "path resolves outside the landing root"
    assert by_key[("absolute_link.txt", -1)][4] is None  # refused unread: no bytes from outside the root


def test_exact_copy_names_the_earlier_file(loaded):
    dsn, _ = loaded
    assert query(dsn, "select duplicate_of_path from reporting.files where source_path like %s", ("%saved again.txt",)) == [
        (f"{DAY}/good.txt",)
    ]


def test_a_run_that_cannot_balance_fails_the_load_gate(loaded, run):
    dsn, _ = loaded
    # a discovered file whose documents vanished before load: nothing records what became of it
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "insert into staging.files (run_id, file_id, source_path, size_bytes, sha256, encoding, file_format, status)"
            " values (%s, 'lost', %s, 10, repeat('a', 64), 'utf-8', 'txt', 'parsed')",
            (DAY.isoformat(), f"{DAY}/vanished.txt"),
        )
    load(dsn, run)
    with pytest.raises(GateFailed, match="conservation of files"):
        validate_stage(dsn, "load", DAY.isoformat(), DAY)
    assert query(dsn, "select outcome from reporting.files where source_path = %s", (f"{DAY}/vanished.txt",)) == [(None,)]
    run_day(dsn, run)  # a re-run from the landing zone balances again
    assert query(dsn, "select count(*) from reporting.files where source_path = %s", (f"{DAY}/vanished.txt",)) == [(0,)]


def test_fixed_files_are_reprocessed_from_the_cli(loaded, run, landing, monkeypatch, capsys):
    dsn, _ = loaded
    part = landing / DAY.isoformat()
    (part / "latin1.txt").write_bytes(article(11).encode())  # fixed in place: re-saved as UTF-8
    monkeypatch.setenv("NEWS_LANDING_DIR", str(landing))
    monkeypatch.setenv("NEWS_QUARANTINE_DIR", str(run.quarantine_dir))
    monkeypatch.setenv("AIRFLOW_CONN_NEWS_WAREHOUSE", dsn)
    assert cli.main(["khabar.cli", "reprocess", DAY.isoformat()]) == 0
    out = capsys.readouterr().out
    assert f"{DAY}/latin1.txt: loaded" in out and f"{DAY}/photo.txt: quarantined" in out
    assert query(dsn, "select count(*) from reporting.quarantine where source_path = %s", (f"{DAY}/latin1.txt",)) == [(0,)]
    assert cli.main(["khabar.cli", "quarantine", DAY.isoformat()]) == 0
    listing = capsys.readouterr().out
    assert "photo.txt  [ingest] binary content" in listing and "latin1.txt" not in listing
    assert str(run.quarantine_dir) in listing  # where the copy of the bytes is


def test_gates_do_not_leave_connections_behind(loaded):
    # one process running many days (the soak, `khabar.cli reprocess`) must not pile up idle connections
    dsn, _ = loaded
    count = "select count(*) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()"
    (before,) = query(dsn, count)[0]
    gc.disable()  # GX's pools sit in reference cycles: only explicit disposal may close them here
    try:
        for _ in range(4):
            validate_stage(dsn, "ingest", DAY.isoformat(), DAY)
        assert query(dsn, count)[0][0] <= before
    finally:
        gc.enable()
