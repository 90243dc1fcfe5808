"""Ingest: discover a day's landing files, read their bytes, decode, split into documents.

Nothing a user dropped is lost: every file becomes documents or a quarantine row with its reason.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
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
REASON_CHANGED = "file changed while being read"
REASON_OUTSIDE = "path resolves outside the landing root"
REASON_LOOP = "symlink loop"
REASON_DANGLING = "symlink to a missing target"
REASON_DIR_LINK = "symlink to a directory (not followed)"
REASON_NOT_REGULAR = "not a regular file"


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


def _is_day_name(name: str) -> bool:
    try:
        date.fromisoformat(name)
    except ValueError:
        return False
    return True


def _refusal(root: Path, path: Path) -> str | None:
    """Why a landing path cannot be read safely, or None: symlinks may point anywhere."""
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except RuntimeError:
            return REASON_LOOP
        except FileNotFoundError:
            return REASON_DANGLING
        except OSError as exc:  # ELOOP on Python >= 3.13, and the like
            return REASON_LOOP if exc.errno == errno.ELOOP else f"cannot read file: {exc.strerror}"
        if not _inside(root, target):
            return REASON_OUTSIDE
        if target.is_dir():
            return REASON_DIR_LINK
    elif not _inside(root, path):
        return REASON_OUTSIDE
    if not path.is_file():  # a FIFO or a device would block or never end: never opened
        return REASON_NOT_REGULAR
    return None


def discover_files(root: Path, day: date) -> tuple[list[LandingFile], list[Quarantined]]:
    """Files of the partition ``root/YYYY-MM-DD/`` (recursively) plus loose files under ``root``
    whose modification time falls in the day; sorted by path.

    Symlinks are never followed into directories; a symlink leaving the root, a loop or a dangling
    link is refused with its reason (it still counts as a discovered file, so nothing vanishes).
    """
    root = Path(root)
    found: list[LandingFile] = []
    refused: list[Quarantined] = []

    def consider(path: Path, rel: str) -> None:
        reason = _refusal(root, path)
        if reason:
            refused.append(Quarantined(rel, "ingest", reason))
        else:
            found.append(LandingFile(path, rel))

    partition = root / day.isoformat()
    if partition.is_dir() and not partition.is_symlink():
        for dirpath, dirnames, filenames in os.walk(partition, followlinks=False):
            dirnames.sort()
            for name in sorted(dirnames):
                if Path(dirpath, name).is_symlink():  # os.walk lists it but does not descend
                    consider(Path(dirpath) / name, (Path(dirpath) / name).relative_to(root).as_posix())
            for name in sorted(filenames):
                if name.startswith("."):
                    continue  # editor and OS droppings (.DS_Store, .swp)
                path = Path(dirpath) / name
                consider(path, path.relative_to(root).as_posix())
    elif partition.is_symlink():
        refused.append(Quarantined(day.isoformat(), "ingest", _refusal(root, partition) or REASON_DIR_LINK))
    start, end = day_bounds(day)
    if root.is_dir():
        for path in sorted(root.iterdir()):
            if path.name.startswith(".") or (path.is_dir() and not path.is_symlink()):
                continue
            if path.is_symlink() and _is_day_name(path.name):
                continue  # a symlinked partition: refused by its own day's run
            try:
                mtime = datetime.fromtimestamp(path.lstat().st_mtime, tz=TEHRAN)
            except OSError:
                continue
            if not start <= mtime < end:
                continue
            consider(path, path.name)  # a file, a symlink, or a FIFO refused with its reason
    found.sort(key=lambda f: f.relpath)
    refused.sort(key=lambda q: q.source_path)
    return found, refused


def landing_days(root: Path) -> list[date]:
    """Every day that has data in the landing zone: date folders and loose files' mtimes.

    A date folder that is a symlink counts too: its run refuses it with a reason, so it is not
    silently skipped."""
    days: set[date] = set()
    for path in Path(root).iterdir():
        if path.name.startswith("."):
            continue
        if (path.is_dir() or path.is_symlink()) and _is_day_name(path.name):
            days.add(date.fromisoformat(path.name))
        elif path.is_symlink() or not path.is_dir():
            days.add(datetime.fromtimestamp(path.lstat().st_mtime, tz=TEHRAN).date())
    return sorted(days)


def _sample(text: str, limit: int = 1 << 20, pieces: int = 64) -> str:
    """The text itself, or for a long one evenly spaced slices of it: the shares below are
    statistics, and a per-character Python loop over a 50 MB file would take most of a minute."""
    if len(text) <= limit:
        return text
    size, step = limit // pieces, len(text) // pieces
    return "".join(text[i * step : i * step + size] for i in range(pieces))


_CONTROL_CATEGORIES = ("Cc", "Cs", "Co", "Cn")


def _usual_characters() -> re.Pattern:
    """A character outside the blocks a Persian text is written in (Latin, Arabic, general punctuation,
    Arabic presentation forms), or one of those blocks' control or unassigned characters: only these
    can be counted by ``_control_share``. Built from ``unicodedata`` (Python's Unicode version), so no
    control or unassigned character is ever taken for a usual one."""
    blocks = ((0x20, 0x250), (0x600, 0x700), (0x2000, 0x2070), (0xFB50, 0xFE00), (0xFE70, 0xFF00))
    usual = [c for lo, hi in blocks for c in range(lo, hi) if unicodedata.category(chr(c)) not in _CONTROL_CATEGORIES]
    ranges: list[list[int]] = []
    for c in usual:
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    return re.compile("[^\n\r\t\f" + "".join(f"{re.escape(chr(lo))}-{re.escape(chr(hi))}" for lo, hi in ranges) + "]")


_UNUSUAL = _usual_characters()


def _control_share(text: str) -> float:
    """The share of control, surrogate, private-use and unassigned characters (line breaks and tabs
    aside). A regex finds the few characters outside the usual blocks; each distinct one is looked up once
    and only the bad ones are counted (a set of every character of the text was 60% of ingest's own work)."""
    text = _sample(text)
    bad = sum(
        text.count(ch) for ch in set(_UNUSUAL.findall(text))
        if ch not in "\n\r\t\f" and unicodedata.category(ch) in _CONTROL_CATEGORIES
    )
    return bad / max(len(text), 1)


def _arabic_script_share(text: str) -> float:
    text = _sample(text)
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for ch in letters if "\u0600" <= ch <= "\u06ff" or "\ufb50" <= ch <= "\ufeff") / len(letters)


_UTF8_ARABIC = re.compile(rb"[\xd8-\xdb][\x80-\xbf]")


def _looks_like_utf8(data: bytes) -> bool:
    """Most non-ASCII bytes pair up as UTF-8 Arabic-block sequences (Ø§, Ù¾): UTF-8, not cp1256."""
    high = sum(1 for b in data if b >= 0x80)
    return high > 0 and 2 * len(_UTF8_ARABIC.findall(data)) > 0.5 * high


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
        if encoding == "cp1256" and _looks_like_utf8(data):
            # UTF-8 Persian with damaged bytes: cp1256 would "read" it as mojibake. A few bad bytes
            # are replaced (U+FFFD marks them); a file mixing encodings is not guessed at.
            text = data.decode("utf-8", "replace")
            if text.count("\ufffd") > 0.001 * len(text) + 2:
                raise Rejected(REASON_UNDECODABLE)
            encoding = "utf-8"
        if _control_share(text) > 0.01:
            continue
        if encoding == "cp1256" and _arabic_script_share(text) < 0.3:
            # cp1256 maps almost every byte: accept it only when it yields Persian/Arabic text
            continue
        # PostgreSQL text cannot hold NUL: a stray one in otherwise good text is dropped.
        text = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
        if not text.strip():
            break
        return text, encoding.replace("-sig", "")
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


_SURROGATE = re.compile("[\ud800-\udfff]")


def _storable(value: object) -> object:
    """The record with NUL removed and lone surrogates replaced in every string: JSON escapes
    (``\\u0000``, ``\\ud800``) decode to characters PostgreSQL text and jsonb refuse."""
    if isinstance(value, str):
        value = value.replace("\x00", "")
        if _SURROGATE.search(value):
            value = value.encode("utf-8", "replace").decode("utf-8")
        return value
    if isinstance(value, list):
        return [_storable(v) for v in value]
    if isinstance(value, dict):
        return {str(_storable(k)): _storable(v) for k, v in value.items()}
    return value


def _loads(text: str) -> object:
    """``json.loads`` whose every failure is a ``Rejected`` with the reason."""
    try:
        return _storable(json.loads(text))
    except json.JSONDecodeError as exc:
        raise Rejected(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise Rejected("invalid JSON: nested too deeply") from None
    except ValueError as exc:  # an integer of more than 4300 digits, and the like
        raise Rejected(f"invalid JSON: {str(exc).split(':')[0]}") from None


def _iter_records(text: str, fmt: str) -> Iterator[tuple[int, object]]:
    """Yield ``(index, record_or_error)``; an error is a ``Rejected`` for that record alone."""
    if fmt == "jsonl":
        index = 0
        for line in text.split("\n"):
            if not line.strip():
                continue
            try:
                yield index, _loads(line)
            except Rejected as exc:
                yield index, Rejected(str(exc).replace(" at line 1 column ", " at column "))
            index += 1
        return
    data = _loads(text)
    records = data if isinstance(data, list) else [data]
    yield from enumerate(records)


def parse_file(relpath: str, text: str, fmt: str, file_id: str) -> tuple[list[Document], list[Quarantined]]:
    """Split one decoded file into documents; bad JSON records are quarantined one by one."""
    text = _storable(text)
    if fmt in ("txt", "html"):
        return [Document(make_id(relpath, 0), file_id, relpath, 0, fmt, text)], []
    docs: list[Document] = []
    bad: list[Quarantined] = []
    for index, record in _iter_records(text, fmt):
        if isinstance(record, Rejected):
            bad.append(Quarantined(relpath, "ingest", str(record), record_index=index, raw_record=_record_line(text, index)))
            continue
        if not isinstance(record, dict):
            bad.append(Quarantined(relpath, "ingest", "JSON record is not an object", record_index=index,
                                   raw_record=_raw(record)))
            continue
        if _record_text(record) is None:
            bad.append(Quarantined(relpath, "ingest", REASON_NO_BODY, record_index=index, raw_record=_raw(record)))
            continue
        title = record.get("title") if isinstance(record.get("title"), str) else None
        meta = {k: record[k] for k in ("link", "date", "tags", "code", "cat", "subcat") if k in record}
        raw = json.dumps(record, ensure_ascii=False)
        docs.append(Document(make_id(relpath, index), file_id, relpath, index, "json", raw, title, meta))
    return docs, bad


def _raw(record: object) -> str:
    return json.dumps(record, ensure_ascii=False)


def _record_line(text: str, index: int) -> str | None:
    """The text of the index-th non-blank JSONL line: the evidence of a record that did not parse."""
    lines = [ln for ln in text.split("\n") if ln.strip()]
    return lines[index] if 0 <= index < len(lines) else None


@dataclass
class IngestedFile:
    relpath: str
    file_id: str
    size_bytes: int
    sha256: str
    encoding: str | None
    file_format: str
    status: str  # parsed | quarantined


def _read_bytes(path: Path) -> bytes:
    return path.read_bytes()


def _fingerprint(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns, st.st_ino


def read_stable(path: Path, attempts: int = 2) -> bytes:
    """The file's bytes, read while it did not change: a scraper may still be writing it.

    The size, modification time and inode are compared before and after reading (an atomic
    rename changes the inode); a change means another read, and ``Rejected`` after ``attempts``.
    """
    for _ in range(attempts):
        before = _fingerprint(path)
        data = _read_bytes(path)
        after = _fingerprint(path)
        if before == after and len(data) == after[0]:
            return data
    raise Rejected(REASON_CHANGED)


def keep_evidence(evidence_dir: Path | None, sha: str, data: bytes | None = None, source: Path | None = None) -> str | None:
    """Copy a quarantined file's bytes to ``evidence_dir/<sha[:2]>/<sha>``; return that relative path.

    Keyed by content, so the same bytes under two names or two runs are kept once. ``source`` is
    streamed (files over the size limit are never held in memory nor put in the database).
    """
    if evidence_dir is None or not sha:
        return None
    rel = f"{sha[:2]}/{sha}"
    dest = Path(evidence_dir) / rel
    if dest.exists():
        return rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{sha}.{os.getpid()}.tmp")
    try:
        if data is not None:
            tmp.write_bytes(data)
        else:
            digest = hashlib.sha256()
            with source.open("rb") as src, tmp.open("wb") as out:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != sha:  # changed since it was hashed: keep nothing misleading
                tmp.unlink()
                return None
        os.replace(tmp, dest)  # atomic: a crash never leaves a half copy under the sha's name
    except OSError:
        tmp.unlink(missing_ok=True)
        return None
    return rel


def ingest_file(
    lf: LandingFile, max_bytes: int, evidence_dir: Path | None = None
) -> tuple[IngestedFile, list[Document], list[Quarantined]]:
    """Read, fingerprint, decode and parse one landing file.

    Whatever is quarantined (the whole file, or bad records of a JSON/JSONL file) has its bytes
    copied to ``evidence_dir`` (when given) and the copy's path on its quarantine rows.
    """
    fmt = FORMATS.get(lf.path.suffix.lower())
    file_id = make_id(lf.relpath)
    try:
        size = lf.path.stat().st_size
    except OSError as exc:
        q = Quarantined(lf.relpath, "ingest", f"cannot read file: {exc.strerror}")
        return IngestedFile(lf.relpath, file_id, 0, "", None, fmt or "unknown", "quarantined"), [], [q]

    def reject(reason: str, sha: str = "", data: bytes | None = None, source: Path | None = None):
        info = IngestedFile(lf.relpath, file_id, size, sha, None, fmt or "unknown", "quarantined")
        evidence = keep_evidence(evidence_dir, sha, data, source)
        return info, [], [Quarantined(lf.relpath, "ingest", reason, sha256=sha or None, size_bytes=size,
                                      evidence_path=evidence)]

    if size > max_bytes:
        try:
            sha = _sha256_file(lf.path)
        except OSError as exc:
            return reject(f"cannot read file: {exc.strerror}")
        return reject(f"{REASON_TOO_LARGE} ({size} > {max_bytes} bytes)", sha, source=lf.path)
    try:
        data = read_stable(lf.path)
    except OSError as exc:
        return reject(f"cannot read file: {exc.strerror}")
    except Rejected as exc:
        return reject(str(exc))
    sha = hashlib.sha256(data).hexdigest()
    size = len(data)
    if fmt is None:
        return reject(f"unsupported file type {lf.path.suffix or '(none)'!r}", sha, data)
    try:
        text, encoding = decode_bytes(data)
        docs, bad = parse_file(lf.relpath, text, fmt, file_id)
    except Rejected as exc:
        return reject(str(exc), sha, data)
    if not docs and not bad:
        bad = [Quarantined(lf.relpath, "ingest", "no records in file")]
    evidence = keep_evidence(evidence_dir, sha, data) if bad else None
    for q in bad:
        q.sha256, q.size_bytes, q.evidence_path = sha, size, evidence
    for doc in docs:
        doc.meta["encoding"] = encoding
    status = "parsed" if docs else "quarantined"
    return IngestedFile(lf.relpath, file_id, size, sha, encoding, fmt, status), docs, bad


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
