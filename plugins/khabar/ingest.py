"""Ingest: discover a day's landing files, read their bytes, decode, split into documents.

Nothing a user dropped is lost: every file becomes documents or a quarantine row with its reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from khabar.document import Document, Quarantined, make_id

TEHRAN = ZoneInfo("Asia/Tehran")
FORMATS = {".txt": "txt", ".html": "html", ".htm": "html", ".json": "json", ".jsonl": "jsonl"}
BODY_FIELDS = ("paragraphs", "body", "text", "content")

REASON_UNDECODABLE = "not valid UTF-8, UTF-16 or Windows-1256"
REASON_BINARY = "binary content"
REASON_EMPTY = "empty file"
REASON_TOO_LARGE = "larger than the configured limit"
REASON_NO_BODY = "JSON record without a body field"


class Rejected(Exception):
    """A file or record cannot be ingested; the message is the quarantine reason."""


@dataclass(frozen=True)
class LandingFile:
    path: Path
    relpath: str  # relative to the landing root, with forward slashes


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The run's day as a half-open interval [00:00, next 00:00) in Asia/Tehran."""
    start = datetime.combine(day, time(0), tzinfo=TEHRAN)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=TEHRAN)


def _inside(root: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def discover_files(root: Path, day: date) -> tuple[list[LandingFile], list[Quarantined]]:
    """Files of the partition ``root/YYYY-MM-DD/`` (recursively) plus loose files under ``root``
    whose modification time falls in the day; sorted by path. Paths leaving the root are refused."""
    root = Path(root)
    found: list[LandingFile] = []
    refused: list[Quarantined] = []
    partition = root / day.isoformat()
    if partition.is_dir():
        for dirpath, dirnames, filenames in os.walk(partition, followlinks=False):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                rel = path.relative_to(root).as_posix()
                if name.startswith("."):
                    continue  # editor and OS droppings (.DS_Store, .swp)
                if not _inside(root, path):
                    refused.append(Quarantined(rel, "ingest", "path resolves outside the landing root"))
                    continue
                found.append(LandingFile(path, rel))
    start, end = day_bounds(day)
    if root.is_dir():
        for path in sorted(root.iterdir()):
            if not path.is_file() or path.name.startswith("."):
                continue
            mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=TEHRAN)
            if start <= mtime < end:
                if not _inside(root, path):
                    refused.append(Quarantined(path.name, "ingest", "path resolves outside the landing root"))
                    continue
                found.append(LandingFile(path, path.name))
    found.sort(key=lambda f: f.relpath)
    return found, refused


def landing_days(root: Path) -> list[date]:
    """Every day that has data in the landing zone: date folders and loose files' mtimes."""
    days: set[date] = set()
    for path in Path(root).iterdir():
        if path.is_dir():
            try:
                days.add(date.fromisoformat(path.name))
            except ValueError:
                continue
        elif path.is_file() and not path.name.startswith("."):
            days.add(datetime.fromtimestamp(path.stat().st_mtime, tz=TEHRAN).date())
    return sorted(days)


def _control_share(text: str) -> float:
    bad = sum(1 for ch in text if unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") and ch not in "\n\r\t\f")
    return bad / max(len(text), 1)


def _arabic_script_share(text: str) -> float:
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for ch in letters if "\u0600" <= ch <= "\u06ff" or "\ufb50" <= ch <= "\ufeff") / len(letters)


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode a landing file: UTF-8 (with or without BOM), UTF-16 (BOM or not), Windows-1256.

    Returns ``(text, encoding)``; raises ``Rejected`` with the quarantine reason otherwise.
    """
    if not data.strip():
        raise Rejected(REASON_EMPTY)
    if data.startswith(b"\xef\xbb\xbf"):
        candidates = ["utf-8-sig"]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8"]
        if len(data) % 2 == 0:
            # BOM-less UTF-16: one byte of each pair is 0x00 (Latin) or 0x06 (Arabic script)
            high_le = data[1::2].count(b"\x00") + data[1::2].count(b"\x06")
            high_be = data[0::2].count(b"\x00") + data[0::2].count(b"\x06")
            if max(high_le, high_be) > 0.6 * (len(data) // 2):
                candidates = ["utf-16-le" if high_le > high_be else "utf-16-be", "utf-8"]
        candidates.append("cp1256")
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _control_share(text) > 0.01:
            continue
        if encoding == "cp1256" and _arabic_script_share(text) < 0.3:
            # cp1256 maps almost every byte: accept it only when it yields Persian/Arabic text
            continue
        return text.replace("\r\n", "\n").replace("\r", "\n"), encoding.replace("-sig", "")
    if b"\x00" in data or _control_share(data.decode("latin-1")) > 0.05:
        raise Rejected(REASON_BINARY)
    raise Rejected(REASON_UNDECODABLE)


def _record_text(record: dict) -> str | None:
    for key in BODY_FIELDS:
        value = record.get(key)
        if isinstance(value, list):
            parts = [str(p) for p in value if isinstance(p, str) and p.strip()]
            if parts:
                return "\n".join(parts)
        elif isinstance(value, str) and value.strip():
            return value
    return None


def _iter_records(text: str, fmt: str) -> Iterator[tuple[int, object]]:
    """Yield ``(index, record_or_error)``; an error is a ``Rejected`` for that record alone."""
    if fmt == "jsonl":
        index = 0
        for line in text.split("\n"):
            if not line.strip():
                continue
            try:
                yield index, json.loads(line)
            except json.JSONDecodeError as exc:
                yield index, Rejected(f"invalid JSON: {exc.msg} at column {exc.colno}")
            index += 1
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Rejected(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    records = data if isinstance(data, list) else [data]
    yield from enumerate(records)


def parse_file(relpath: str, text: str, fmt: str, file_id: str) -> tuple[list[Document], list[Quarantined]]:
    """Split one decoded file into documents; bad JSON records are quarantined one by one."""
    if fmt in ("txt", "html"):
        return [Document(make_id(relpath, 0), file_id, relpath, 0, fmt, text)], []
    docs: list[Document] = []
    bad: list[Quarantined] = []
    for index, record in _iter_records(text, fmt):
        if isinstance(record, Rejected):
            bad.append(Quarantined(relpath, "ingest", str(record), record_index=index))
            continue
        if not isinstance(record, dict):
            bad.append(Quarantined(relpath, "ingest", "JSON record is not an object", record_index=index))
            continue
        if _record_text(record) is None:
            bad.append(Quarantined(relpath, "ingest", REASON_NO_BODY, record_index=index))
            continue
        title = record.get("title") if isinstance(record.get("title"), str) else None
        meta = {k: record[k] for k in ("link", "date", "tags", "code", "cat", "subcat") if k in record}
        raw = json.dumps(record, ensure_ascii=False)
        docs.append(Document(make_id(relpath, index), file_id, relpath, index, "json", raw, title, meta))
    return docs, bad


@dataclass
class IngestedFile:
    relpath: str
    file_id: str
    size_bytes: int
    sha256: str
    encoding: str | None
    file_format: str
    status: str  # parsed | quarantined


def ingest_file(lf: LandingFile, max_bytes: int) -> tuple[IngestedFile, list[Document], list[Quarantined]]:
    """Read, fingerprint, decode and parse one landing file."""
    fmt = FORMATS.get(lf.path.suffix.lower())
    file_id = make_id(lf.relpath)
    try:
        size = lf.path.stat().st_size
    except OSError as exc:
        q = Quarantined(lf.relpath, "ingest", f"cannot read file: {exc.strerror}")
        return IngestedFile(lf.relpath, file_id, 0, "", None, fmt or "unknown", "quarantined"), [], [q]

    def reject(reason: str, sha: str = "", encoding: str | None = None):
        info = IngestedFile(lf.relpath, file_id, size, sha, encoding, fmt or "unknown", "quarantined")
        return info, [], [Quarantined(lf.relpath, "ingest", reason, sha256=sha or None, size_bytes=size)]

    if size > max_bytes:
        sha = _sha256_file(lf.path)
        return reject(f"{REASON_TOO_LARGE} ({size} > {max_bytes} bytes)", sha)
    try:
        data = lf.path.read_bytes()
    except OSError as exc:
        return reject(f"cannot read file: {exc.strerror}")
    sha = hashlib.sha256(data).hexdigest()
    size = len(data)
    if fmt is None:
        return reject(f"unsupported file type {lf.path.suffix or '(none)'!r}", sha)
    try:
        text, encoding = decode_bytes(data)
        docs, bad = parse_file(lf.relpath, text, fmt, file_id)
    except Rejected as exc:
        return reject(str(exc), sha)
    for q in bad:
        q.sha256, q.size_bytes = sha, size
    for doc in docs:
        doc.meta["encoding"] = encoding
    status = "parsed" if docs else "quarantined"
    if not docs and not bad:
        bad = [Quarantined(lf.relpath, "ingest", "no records in file", sha256=sha, size_bytes=size)]
    return IngestedFile(lf.relpath, file_id, size, sha, encoding, fmt, status), docs, bad


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
