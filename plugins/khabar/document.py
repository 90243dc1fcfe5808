"""The one document model that flows through the named steps."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class StrippedLine:
    """A line (or span) the strip step removed from the body, and the rule that removed it."""

    line_no: int
    line: str
    rule: str


@dataclass
class Quarantined:
    """Input that could not become a document, with the evidence to fix and re-run it."""

    source_path: str
    stage: str
    reason: str
    record_index: int = -1  # -1: the whole file
    sha256: str | None = None
    size_bytes: int | None = None
    evidence_path: str | None = None  # the raw bytes' copy, relative to the quarantine folder
    raw_record: str | None = None  # a JSON/JSONL record's own text, or a document's text as read


@dataclass
class Document:
    """One article candidate: a text file, an HTML page, or one crawler record."""

    doc_id: str
    file_id: str
    source_path: str  # relative to the landing root
    record_index: int  # 0 for single-document files
    file_format: str  # txt | html | json
    raw_text: str  # exactly what we read (decoded); JSON records as JSON text
    raw_title: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    status: str = "active"  # active | quarantined | duplicate
    # strip
    stripped_text: str | None = None
    title: str | None = None
    outlet: str | None = None
    stripped: list[StrippedLine] = field(default_factory=list)
    byline: str | None = None  # reporter or author credited in the text or the page's metadata
    photo_credit: str | None = None  # «عکس: ...»
    cited_source: str | None = None  # the outlet relayed («به نقل از ...», «منبع: ...»), not the publishing outlet
    text_loss: float | None = None  # share of the text the strip step removed as furniture (credits and titles excluded)
    needs_review: bool | None = None  # text_loss above the configured share: kept, but flagged for a human
    kept_line_nos: list[int] = field(default_factory=list)  # line number of each kept line (not stored)
    # normalize
    body: str | None = None
    # date-tag
    published_at: datetime | None = None
    published_jalali: str | None = None
    date_source: str | None = None
    date_evidence: str | None = None
    date_reason: str | None = None
    date_confidence: float | None = None
    date_calendar: str | None = None
    date_weekday_mismatch: str | None = None
    mentions: list[Any] = field(default_factory=list)  # khabar.dates.DateMatch, for staging.date_mentions
    # dedup
    body_hash: str | None = None
    duplicate_of: str | None = None
    story_id: str | None = None
    word_count: int | None = None


def make_id(*parts: object) -> str:
    """A short, deterministic id from its parts (re-running a day gives the same ids)."""
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
