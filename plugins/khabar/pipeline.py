"""The pipeline, top to bottom: ingest → strip → normalize → date-tag → dedup → load.

Each stage reads the run's rows from ``staging``, applies one step per document, and writes its
columns back in one transaction, so a retried stage starts from the same state. ``load`` moves
the run into ``reporting`` in one transaction: re-running a day leaves the same rows.

Batches: ingest puts each document of the day in a batch (``NEWS_BATCH_SIZE`` documents, in
``source_path, record_index`` order). The per-document stages (strip, normalize, date-tag) take a
batch number, so the DAG maps them over the batches and several workers share one day; what needs the
whole day (strip's learned furniture, date-tag's calendar and coverage) is the stage's ``finish``,
run once after its batches. ``batch=None`` is the whole day: every batch and the finish in one
transaction (``run_stage``, ``run_day``). The result does not depend on the batch size.
Staging is written with COPY and set-based SQL, never row by row. Ingest, normalize, date-tag and dedup's
fingerprints read and write behind their work, a chunk at a time (``khabar.warehouse.Behind``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from khabar.document import Document, Quarantined
from khabar.paths import INCLUDE_DIR, PROJECT_ROOT, SAMPLE_LANDING_DIR
from khabar.warehouse import (
    Behind,
    CopyData,
    RunLocked,
    apply_migrations,
    copy_records,
    day_lock,
    delete_by_ids,
    stream_behind,
    transaction,
    update_from_rows,
)

DOC_COLUMNS = (
    "doc_id", "file_id", "source_path", "record_index", "file_format", "raw_text", "raw_title", "meta",
    "status", "stripped_text", "title", "outlet", "body", "published_at", "published_jalali",
    "date_source", "date_evidence", "date_reason", "body_hash", "duplicate_of", "story_id", "word_count",
    "date_confidence",
    "date_calendar",
    "date_weekday_mismatch",
    "byline", "photo_credit", "cited_source",
    "text_loss", "needs_review",
)
STAGES = ("ingest", "strip", "normalize", "date_tag", "dedup", "load")
BATCH_STAGES = ("strip", "normalize", "date_tag", "dedup")  # per document: mapped over the day's batches
# A mapped task of 2,500 documents does 2-4 s of work per stage (2-core machine). Each task instance costs Airflow
# time the day's work does not need (start-up, the scheduler's loop between tasks): under the CeleryExecutor (one
# worker of 2 slots) a 10k day ran in 30.5 s with batches of 1,000 (51 instances) and 27.0 s with 2,500 (27), a 100k
# day in 220.9 s and 187.6 s (411 and 171 instances). Four batches of a 10k day keep 2-4 slots busy; a deployment
# with more slots sets a smaller size (NEWS_BATCH_SIZE, a trigger's conf).
DEFAULT_BATCH_SIZE = 2500
# Airflow's default [core] max_map_length: a bigger day gets bigger batches, never more mapped tasks.
MAX_BATCHES = 1024


class RunSuperseded(RunLocked):
    """The day's staging belongs to another run (it ingested the day since): a batch or finish step of
    this run must not write into it. Retrying does not help; the newer run carries the day."""


class StagingLost(RunSuperseded):
    """The day's staging rows are gone: the staging tables are UNLOGGED (migration 014) and PostgreSQL
    empties them when it restarts after a crash. Retrying the task does not bring them back; the day
    must be re-run from ingest."""


class IncompleteStage(RuntimeError):
    """A stage's finish found documents its batches did not process (a batch missing)."""


@dataclass(frozen=True)
class Run:
    """One run of the pipeline: the landing partition of one day (Asia/Tehran)."""

    day: date
    landing_root: Path
    airflow_run_id: str | None = None
    max_file_bytes: int = 50 * 1024 * 1024
    quarantine_dir: Path | None = None  # None: env NEWS_QUARANTINE_DIR, else <project>/.quarantine
    batch_size: int | None = None  # documents per batch at ingest; None: env NEWS_BATCH_SIZE, else 2500

    @property
    def run_id(self) -> str:
        # The warehouse identifies a run by its day, so a re-run or backfill of that day replaces it.
        return self.day.isoformat()


def landing_root_from_env() -> Path:
    return Path(os.environ.get("NEWS_LANDING_DIR") or SAMPLE_LANDING_DIR)


def batch_size_from_env() -> int:
    """``NEWS_BATCH_SIZE``, else 2,500 documents a batch."""
    size = int(os.environ.get("NEWS_BATCH_SIZE") or DEFAULT_BATCH_SIZE)
    if size < 1:
        raise ValueError(f"NEWS_BATCH_SIZE must be at least 1, not {size}")
    return size


def plan_batches(documents: int, batch_size: int, max_batches: int = MAX_BATCHES) -> tuple[int, int]:
    """``(batch size, number of batches)`` for a day of ``documents``: at least one batch (an empty day
    still runs its stages and loads its zero counts), at most ``max_batches`` (the size grows instead).

    >>> plan_batches(1001, 500), plan_batches(0, 500), plan_batches(5000, 1, max_batches=1024)
    ((500, 3), (500, 1), (5, 1000))
    """
    size = max(batch_size, -(-documents // max_batches))
    return size, max(1, -(-documents // size))


def quarantine_dir(run: Run) -> Path:
    """Where quarantined files' bytes are copied (keyed by sha256): kept apart from the landing zone."""
    return Path(run.quarantine_dir or os.environ.get("NEWS_QUARANTINE_DIR") or PROJECT_ROOT / ".quarantine")


def pipeline_version() -> str:
    """What produces the articles: library, lexicon, a digest of the rule files and one of the settings
    (``khabar.version``), e.g. ``khabar-0.1.0+lexicon-2+rules-762fb038+cfg-6a703212``."""
    from khabar.version import pipeline_version as compose

    return compose()


# ------------------------------------------------------------------------------ staging helpers

_REQUIRED = {"file_id": "", "source_path": "", "record_index": 0, "file_format": "", "raw_text": ""}


def _read_documents(
    cur, run_id: str, statuses: tuple[str, ...] = ("active",), batch: int | None = None,
    columns: tuple[str, ...] = DOC_COLUMNS, exprs: dict[str, str] | None = None,
) -> list[Document]:
    """The run's documents (of one batch, or all), in source order, with ``columns`` filled (those named in
    ``exprs`` from that SQL expression instead of the column)."""
    cur.execute(*_documents_query(run_id, statuses, batch, columns, exprs))
    return [Document(**{**_REQUIRED, **dict(zip(columns, row, strict=True))}) for row in cur.fetchall()]


def _documents_query(
    run_id: str, statuses: tuple[str, ...], batch: int | None, columns: tuple[str, ...], exprs: dict[str, str] | None,
) -> tuple[str, dict]:
    """The select of ``_read_documents`` and ``_each_chunk``, and its parameters."""
    where = "" if batch is None else " and batch_no = %(batch)s"
    return (
        f"select {', '.join((exprs or {}).get(c, c) for c in columns)} from staging.documents"
        f" where run_id = %(run_id)s and status in %(statuses)s{where} order by source_path, record_index",
        {"run_id": run_id, "statuses": statuses, "batch": batch},
    )


CHUNK = 500  # documents a batch stage has in hand at a time (see _each_chunk)


def _each_chunk(
    cur, run_id: str, work, write, statuses: tuple[str, ...] = ("active",), batch: int | None = None,
    columns: tuple[str, ...] = DOC_COLUMNS, exprs: dict[str, str] | None = None,
) -> tuple[int, int]:
    """The run's documents as ``_read_documents`` reads them, through ``work(docs)`` a chunk of ``CHUNK`` at a
    time, read and written behind the work (``khabar.warehouse.stream_behind``): what ``work`` returns (its
    writes, encoded: ``CopyData``) goes to ``write(cursor, it)``, which returns a count. Returns (documents, the
    writes' counts summed)."""

    def documents(rows: list[tuple]):
        return work([Document(**{**_REQUIRED, **dict(zip(columns, row, strict=True))}) for row in rows])

    query, params = _documents_query(run_id, statuses, batch, columns, exprs)
    return stream_behind(cur, "khabar_chunks", query, params, CHUNK, documents, write)


def _update_documents(
    cur, run_id: str, docs: list[Document], columns: tuple[str, ...], also: dict[str, str] | None = None,
    batch: int | None = None,
) -> None:
    """Write ``columns`` of the documents back: COPY into a temporary table, one ``update ... from``
    (``also``: more columns set to SQL expressions, as ``update_from_rows`` takes them). ``batch``: the documents
    are all of that batch (see ``_document_keys``)."""
    if docs:
        rows = ((d.doc_id, *(_db_value(c, getattr(d, c)) for c in columns)) for d in docs)
        update_from_rows(cur, "staging.documents", _document_keys(run_id, batch), "doc_id", columns, rows, also)


def _document_keys(run_id: str, batch: int | None) -> dict:
    """What a batch's update of staging.documents matches besides doc_id: the run and, for a batch, its number,
    so that the batch's rows are found through the (run_id, batch_no) index. Matched on the run alone, the update
    read every document of the run to hash-join the batch's (3-10 ms a batch at 10k documents, a growth with
    batches x run)."""
    return {"run_id": run_id} if batch is None else {"run_id": run_id, "batch_no": batch}


def _db_value(column: str, value):
    return json.dumps(value, ensure_ascii=False, default=str) if column == "meta" else value


QUARANTINE_COLUMNS = ("source_path", "record_index", "stage", "reason", "sha256", "size_bytes", "evidence_path", "raw_record")


def _quarantine(cur, run_id: str, items: list[Quarantined]) -> None:
    """Quarantine rows, COPYed then upserted (a later row for the same record wins)."""
    if not items:
        return
    cur.execute(
        "create temporary table _khabar_quarantine on commit drop as"
        f" select {', '.join(QUARANTINE_COLUMNS)}, 0 as ord from staging.quarantine with no data"
    )
    copy_records(
        cur, "_khabar_quarantine", (*QUARANTINE_COLUMNS, "ord"),
        ((q.source_path, q.record_index, q.stage, q.reason, q.sha256, q.size_bytes, q.evidence_path, q.raw_record, i)
         for i, q in enumerate(items)),
    )
    cols = ", ".join(QUARANTINE_COLUMNS)
    cur.execute(
        f"insert into staging.quarantine (run_id, {cols})"
        f" select distinct on (source_path, record_index) %s, {cols} from _khabar_quarantine"
        " order by source_path, record_index, ord desc"
        " on conflict (run_id, source_path, record_index) do update set stage = excluded.stage, reason = excluded.reason",
        (run_id,),
    )
    cur.execute("drop table _khabar_quarantine")


def _delete_batch_rows(cur, table: str, run_id: str, batch: int) -> None:
    """Delete a staging table's rows of one batch's documents (an earlier try's), found by the batch's ids in the
    table's primary key (run_id, doc_id, ...) (``delete_by_ids``): a join with the batch's documents, or the ids
    as an array computed in the statement, read the run's rows of the table in each batch (a cost growing with
    batches x run; date_tag's delete of nothing was 22 ms a batch at 10k documents)."""
    cur.execute(
        "select array(select doc_id from staging.documents where run_id = %(run_id)s and batch_no = %(batch)s)",
        {"run_id": run_id, "batch": batch},
    )
    delete_by_ids(cur, table, run_id, cur.fetchone()[0])


def check_staging(cur, run_id: str) -> None:
    """Raise ``StagingLost`` when the day was ingested (``staging.ingests``, logged) but its mark in
    ``staging.ingest_marks`` (unlogged, written with the staging rows) is gone: PostgreSQL restarted after
    a crash and emptied the unlogged staging tables since."""
    cur.execute(
        "select i.airflow_run_id from staging.ingests i where i.run_id = %s"
        " and not exists (select 1 from staging.ingest_marks m where m.run_id = i.run_id)",
        (run_id,),
    )
    row = cur.fetchone()
    if row is not None:
        raise StagingLost(
            f"day {run_id}: its staging rows are gone (PostgreSQL restarted after a crash and emptied the unlogged"
            f" staging tables, migration 014); re-run the day from ingest (a new run, or clear ingest_files and"
            f" every later task of run {row[0]!r})"
        )


def check_owner(dsn: str, run: Run) -> None:
    """Refuse (``RunSuperseded``) when the day's staging is not this run's: another Airflow run ingested
    the day after this one, or the day was rebuilt without batches (re-processing); ``StagingLost`` when a
    crash of PostgreSQL emptied it."""
    with transaction(dsn) as cur:
        check_staging(cur, run.run_id)
        cur.execute("select airflow_run_id from staging.ingests where run_id = %s", (run.run_id,))
        row = cur.fetchone()
        cur.execute(
            "select exists (select 1 from staging.documents where run_id = %s and batch_no is null)", (run.run_id,)
        )
        (unbatched,) = cur.fetchone()
    if row is None or unbatched:
        raise RunSuperseded(f"day {run.run_id} has no batched ingest in staging (rebuilt or never ingested); run ingest first")
    if row[0] != run.airflow_run_id:
        raise RunSuperseded(
            f"day {run.run_id} was ingested by run {row[0]!r}; run {run.airflow_run_id!r} does not write into it"
        )


# ------------------------------------------------------------------------------ stages


INGEST_CHUNK = 500  # documents per COPY at ingest: what the ingest task holds at a time, whatever the day's size
INGEST_COLUMNS = (
    "run_id", "doc_id", "file_id", "source_path", "record_index", "file_format", "status", "raw_text", "raw_title", "meta",
    "batch_no",
)


def ingest(dsn: str, run: Run) -> dict:
    """Discover the day's files, read and decode them, record each file; quarantine what fails
    (with a copy of its bytes). Refused paths are recorded as files too: every discovered file
    has a row in ``staging.files``, the left side of the load gate's conservation. Each document
    gets its batch; the result names the batches (small: numbers and counts, no text). The documents
    are COPYed a chunk at a time as the files are read (files in path order, each file's records in
    order), so the task's memory does not grow with the day."""
    from khabar.document import make_id
    from khabar.ingest import IngestedFile, discover_files, ingest_file

    apply_migrations(dsn)
    files, refused = discover_files(run.landing_root, run.day)
    evidence = quarantine_dir(run)
    infos = [IngestedFile(q.source_path, make_id(q.source_path), 0, "", None, "unknown", "quarantined") for q in refused]
    bad = list(refused)
    size, rid = run.batch_size or batch_size_from_env(), run.run_id
    count, chunk = 0, []
    with transaction(dsn) as cur:
        for table in ("stripped_lines", "quarantine", "documents", "files", "ingests", "ingest_marks"):
            cur.execute(f"delete from staging.{table} where run_id = %s", (rid,))
        # each chunk is COPYed behind the reading of the next files (khabar.warehouse.Behind)
        with Behind(cur) as behind:
            for lf in files:  # in path order, and so the documents in (source_path, record_index) order
                info, file_docs, file_bad = ingest_file(lf, run.max_file_bytes, evidence)
                infos.append(info)
                bad += file_bad
                for d in sorted(file_docs, key=lambda d: d.record_index):
                    chunk.append((rid, d.doc_id, d.file_id, d.source_path, d.record_index, d.file_format, "active",
                                  d.raw_text, d.raw_title, json.dumps(d.meta, ensure_ascii=False), count // size))
                    count += 1
                if len(chunk) >= INGEST_CHUNK:
                    behind.submit(copy_records, "staging.documents", INGEST_COLUMNS, CopyData(chunk))
                    chunk = []
            behind.submit(copy_records, "staging.documents", INGEST_COLUMNS, CopyData(chunk))
        planned, batches = plan_batches(count, size, MAX_BATCHES)
        if planned != size:  # more than MAX_BATCHES batches of the asked size: fewer, bigger ones, in the same order
            cur.execute(
                "update staging.documents d set batch_no = o.n / %(size)s from (select doc_id, row_number() over"
                ' (order by source_path collate "C", record_index) - 1 as n from staging.documents where run_id = %(run)s) o'
                " where d.run_id = %(run)s and d.doc_id = o.doc_id",
                {"size": planned, "run": rid},
            )
        copy_records(
            cur, "staging.files", ("run_id", "file_id", "source_path", "size_bytes", "sha256", "encoding", "file_format", "status"),
            ((rid, f.file_id, f.relpath, f.size_bytes, f.sha256, f.encoding, f.file_format, f.status) for f in infos),
        )
        _quarantine(cur, rid, bad)
        cur.execute(
            "insert into staging.ingests (run_id, airflow_run_id, batch_size, batches, documents) values (%s, %s, %s, %s, %s)",
            (rid, run.airflow_run_id, planned, batches, count),
        )
        cur.execute("insert into staging.ingest_marks (run_id) values (%s)", (rid,))
    return {
        "files": len(infos), "documents": count, "quarantined": len(bad),
        "batch_size": planned, "batches": list(range(batches)),
    }


STRIP_READ = ("doc_id", "source_path", "record_index", "file_format", "raw_text", "raw_title", "meta")
STRIP_WRITE = (
    "stripped_text", "strip_draft_line_nos", "title", "outlet", "meta", "status", "byline", "photo_credit",
    "cited_source", "text_loss", "needs_review",
)


def strip(dsn: str, run: Run, batch: int | None = None) -> dict:
    """HTML to text and furniture out (structure, lexicon, then lines learned per outlet); every
    removed line kept with its rule; credits to their columns; heavy losses flagged for review.
    With a batch: that batch's documents, without learned furniture (``strip_finish`` does that)."""
    from khabar.strip import StripSettings

    settings = StripSettings.from_env()
    with transaction(dsn) as cur:
        out = _strip_batch(cur, run, batch, settings)
        if batch is None:
            finish = _strip_finish(cur, run, settings)
            out = {**finish, "lines_removed": out["lines_removed"] + finish["learned_furniture_lines"]}
    return out


def _strip_batch(cur, run: Run, batch: int | None, settings) -> dict:
    from khabar.strip import Stripper

    stripper, rid = Stripper(), run.run_id
    # Strip reads its batch whole, works on it, then writes it, and not a chunk at a time behind its work
    # (_each_chunk) as the stages after it do. Under the CeleryExecutor, two mapped strip instances at a time,
    # the chunked strip took 11.9-13.0 s summed over a 10k day's four instances against 9.0-10.3 s (one
    # process: 0.6 s faster). That held with the calls inline and with one chunk a batch. The cause was not found.
    # A re-run starts from the documents as ingest left them: strip's own removals and quarantine go.
    docs = _read_documents(cur, rid, ("active", "quarantined"), batch, STRIP_READ)
    if batch is None:
        cur.execute("delete from staging.stripped_lines where run_id = %s", (rid,))
        cur.execute("delete from staging.quarantine where run_id = %s and stage = 'strip'", (rid,))
    else:
        _delete_batch_rows(cur, "staging.stripped_lines", rid, batch)
        cur.execute(
            "delete from staging.quarantine q using staging.documents d where q.run_id = %(run_id)s and q.stage = 'strip'"
            " and d.run_id = q.run_id and d.source_path = q.source_path and d.record_index = q.record_index"
            " and d.batch_no = %(batch)s",
            {"run_id": rid, "batch": batch},
        )
    for doc in docs:
        doc.status = "active"
        stripper.strip_document(doc, settings.review_loss_share)
    # The text is the stage's and the draft the finish starts from: strip_draft holds a draft only where a finish
    # changed the text (a few documents a day), null here. Kept twice for every document, the text's second copy
    # was a third of the update's time.
    update_from_rows(
        cur, "staging.documents", _document_keys(rid, batch), "doc_id", STRIP_WRITE,
        (
            (d.doc_id, d.stripped_text, d.kept_line_nos, d.title, d.outlet, _db_value("meta", d.meta),
             d.status, d.byline, d.photo_credit, d.cited_source, d.text_loss, d.needs_review)
            for d in docs
        ),
        also={"strip_draft": "null"},
    )
    lines = copy_records(
        cur, "staging.stripped_lines", ("run_id", "doc_id", "line_no", "line", "rule"),
        ((rid, d.doc_id, s.line_no, s.line, s.rule) for d in docs for s in d.stripped),
    )
    return {"batch": batch, "documents": len(docs), "lines_removed": lines}


def strip_finish(dsn: str, run: Run) -> dict:
    """The day-level part of strip, after every batch: learned furniture (lines recurring in enough
    documents of one outlet, this day and earlier days) out of the day's documents; empty ones quarantined."""
    from khabar.strip import StripSettings

    with transaction(dsn) as cur:
        return _strip_finish(cur, run, StripSettings.from_env())


FINISH_CHUNK = 2000  # documents strip's finish holds at a time: it reads the day's drafts twice, streamed


def _strip_drafts(cur, run_id: str):
    """The day's active documents as the batches left them, in source order, streamed from a server-side
    cursor: ``(Document with the draft as its text, draft missing, changed by an earlier finish)``. The draft is
    strip_draft where an earlier finish changed the text (it keeps the batch's text there), else the text."""
    with cur.connection.cursor(name="strip_finish_drafts") as stream:
        stream.itersize = FINISH_CHUNK
        stream.execute(
            "select doc_id, source_path, record_index, outlet, coalesce(strip_draft, stripped_text), strip_draft_line_nos,"
            " strip_draft is not null from staging.documents where run_id = %s and status = 'active'"
            " order by source_path, record_index",
            (run_id,),
        )
        for doc_id, path, index, outlet, draft, nos, changed in stream:
            doc = Document(doc_id, "", path, index, "", "", outlet=outlet, stripped_text=draft or "", kept_line_nos=list(nos or []))
            yield doc, draft is None, changed


def _strip_finish(cur, run: Run, settings) -> dict:
    from khabar.document import StrippedLine
    from khabar.strip import LEARNED_RULE, count_outlet_lines, line_key, remove_outlet_furniture, update_text_loss

    rid = run.run_id
    # Re-runnable: an earlier finish's removals and quarantine are undone, the batches' drafts are the input.
    cur.execute("delete from staging.stripped_lines where run_id = %s and rule = %s", (rid, LEARNED_RULE))
    cur.execute("delete from staging.quarantine where run_id = %s and stage = 'strip'", (rid,))
    cur.execute("update staging.documents set status = 'active' where run_id = %s and status = 'quarantined'", (rid,))
    # First pass over the drafts: the day's line counts per outlet; which documents an earlier finish changed
    # (restored below) or no batch stripped. Documents are streamed, not held: the task's memory does not
    # grow with the day.
    missing: list[str] = []
    earlier: set[str] = set()
    documents = 0

    def first_pass():
        nonlocal documents
        for doc, no_draft, changed in _strip_drafts(cur, rid):
            documents += 1
            if no_draft:
                missing.append(f"{doc.source_path}#{doc.record_index}")
                continue
            if changed:
                earlier.add(doc.doc_id)
            yield doc

    counts = count_outlet_lines(first_pass())
    if missing:
        raise IncompleteStage(f"day {rid}: {len(missing)} documents were not stripped by any batch, e.g. {missing[:3]}")
    # Learned furniture: this run's counts plus earlier runs' inside the window. Only run_id < this
    # one counts, so a re-run of a day (or a backfill after later days) sees the same evidence.
    cur.execute(
        "select outlet, line_key, sum(documents) from reporting.outlet_lines"
        " where run_id < %s and run_id >= %s and outlet = any(%s) group by 1, 2",
        (rid, date.fromordinal(run.day.toordinal() - settings.window_days).isoformat(), sorted({o for o, _ in counts})),
    )
    evidence = {(outlet, key): n for outlet, key, n in cur.fetchall()}
    furniture = {
        k for k in counts.keys() | evidence.keys()
        if counts.get(k, ("", 0))[1] + evidence.get(k, 0) >= settings.min_documents
    }
    outlets = {o for o, _ in furniture}
    learned = 0
    empty: list[Document] = []

    def settle(touched: list[Document]) -> None:
        """Learned furniture out of a chunk of documents, starting from their removals so far (the batches')."""
        nonlocal learned
        cur.execute(
            "select doc_id, line_no, line, rule from staging.stripped_lines where run_id = %s and doc_id = any(%s)"
            " order by doc_id, line_no, rule",
            (rid, [d.doc_id for d in touched]),
        )
        removed: dict[str, list[StrippedLine]] = {}
        for doc_id, no, line, rule in cur.fetchall():
            removed.setdefault(doc_id, []).append(StrippedLine(no, line, rule))
        for doc in touched:
            doc.stripped = removed.get(doc.doc_id, [])
            learned += remove_outlet_furniture(doc, furniture, settings.review_loss_share)
            update_text_loss(doc, settings.review_loss_share)
        # the batch's text becomes the draft before the first finish changes it (a later finish starts from it)
        _update_documents(
            cur, rid, touched, ("stripped_text", "text_loss", "needs_review"),
            also={"strip_draft": "coalesce(t.strip_draft, t.stripped_text)"},
        )
        copy_records(
            cur, "staging.stripped_lines", ("run_id", "doc_id", "line_no", "line", "rule"),
            ((rid, d.doc_id, s.line_no, s.line, s.rule) for d in touched for s in d.stripped if s.rule == LEARNED_RULE),
        )
        empty.extend(d for d in touched if not d.stripped_text.strip())

    # Second pass: the documents holding a learned line (or changed by an earlier finish), a chunk at a time.
    chunk: list[Document] = []
    for doc, _, _ in _strip_drafts(cur, rid):
        if doc.doc_id in earlier or (
            doc.outlet in outlets and any((doc.outlet, line_key(line)) in furniture for line in doc.stripped_text.split("\n"))
        ):
            chunk.append(doc)
            if len(chunk) >= FINISH_CHUNK:
                settle(chunk)
                chunk = []
        elif not doc.stripped_text.strip():
            empty.append(doc)
    if chunk:
        settle(chunk)
    empty.sort(key=lambda d: (d.source_path, d.record_index))
    for doc in empty:
        doc.status = "quarantined"
    _update_documents(cur, rid, empty, ("status",))
    _quarantine(cur, rid, [Quarantined(d.source_path, "strip", "empty after boilerplate removal", d.record_index) for d in empty])
    cur.execute("delete from staging.outlet_lines where run_id = %s", (rid,))
    copy_records(
        cur, "staging.outlet_lines", ("run_id", "outlet", "line_key", "line", "documents"),
        ((rid, outlet, key, line, n) for (outlet, key), (line, n) in counts.items()),
    )
    cur.execute(
        "select count(*) filter (where needs_review) from staging.documents where run_id = %s and status = 'active'", (rid,)
    )
    (flagged,) = cur.fetchone()
    return {
        "documents": documents,
        "learned_furniture_lines": learned,
        "flagged_for_review": flagged,
        "quarantined": len(empty),
    }


NORMALIZE_WRITE = ("body", "title", "word_count")


def normalize(dsn: str, run: Run, batch: int | None = None) -> dict:
    """hazm-based normalization of body and title; the raw text stays beside them."""
    from khabar.normalize import normalize_text

    def work(docs: list[Document]) -> CopyData:
        for doc in docs:
            doc.body = normalize_text(doc.stripped_text or "")
            doc.title = normalize_text(doc.title) if doc.title else None
            doc.word_count = len(doc.body.split())
        return CopyData((d.doc_id, d.body, d.title, d.word_count) for d in docs)

    def write(c, rows: CopyData) -> int:
        return update_from_rows(c, "staging.documents", _document_keys(run.run_id, batch), "doc_id", NORMALIZE_WRITE, rows)

    with transaction(dsn) as cur:
        documents, _ = _each_chunk(cur, run.run_id, work, write, batch=batch, columns=("doc_id", "stripped_text", "title"))
    return {"batch": batch, "documents": documents} if batch is not None else {"documents": documents}


DATE_READ = ("doc_id", "source_path", "raw_text", "meta", "stripped_text", "body")
# The raw text and strip's text place a document's datelines (header_datelines): read only for a document whose
# metadata has any (strip's, from .txt scrapes). Read for every document, they were half the stage's reads.
_HAS_DATELINES = "coalesce(meta->'datelines', '[]') not in ('[]', 'null')"
DATE_READ_EXPRS = {c: f"case when {_HAS_DATELINES} then {c} end" for c in ("raw_text", "stripped_text")}
DATE_MENTION_COLUMNS = (
    "run_id", "doc_id", "start_char", "end_char", "surface", "resolved_day", "resolved_jalali", "calendar", "kind",
    "weekday_ok", "confidence",
)
DATE_WRITE = (
    "published_at", "published_jalali", "date_source", "date_evidence", "date_reason", "date_confidence", "date_calendar",
    "date_weekday_mismatch",
)


def date_tag(dsn: str, run: Run, batch: int | None = None) -> dict:
    """Publication date from metadata, datelines, link or record field, with its confidence; every
    date the body mentions; the calendar rows the run's days need; date coverage per outlet.
    With a batch: that batch's dates and mentions (``date_tag_finish`` does calendar and coverage)."""
    from khabar.dates import header_datelines, tag_date, tag_mentions

    rid = run.run_id
    dated = 0

    def work(docs: list[Document]) -> tuple[CopyData, CopyData]:
        nonlocal dated
        for doc in docs:
            datelines = header_datelines(doc.raw_text or "", doc.meta.get("datelines") or [], doc.stripped_text or "")
            result = tag_date(doc.meta, datelines, doc.source_path, run.day)
            doc.published_at, doc.published_jalali = result.published_at, result.published_jalali
            doc.date_source, doc.date_evidence, doc.date_reason = result.source, result.evidence, result.reason
            doc.date_confidence, doc.date_calendar = result.confidence, result.calendar
            doc.date_weekday_mismatch = result.weekday_mismatch
            doc.mentions = tag_mentions(doc.body or "", doc.published_at)
            dated += doc.published_at is not None
        return (
            CopyData((d.doc_id, *(getattr(d, c) for c in DATE_WRITE)) for d in docs),
            CopyData(
                (rid, d.doc_id, m.start, m.end, m.surface, m.day, m.jalali, m.calendar, m.kind, m.weekday_ok, m.confidence)
                for d in docs for m in d.mentions
            ),
        )

    def write(c, rows: tuple[CopyData, CopyData]) -> int:
        dates, mentions = rows
        # typed by the temporary table: a column of nulls is fine
        update_from_rows(c, "staging.documents", _document_keys(rid, batch), "doc_id", DATE_WRITE, dates)
        return copy_records(c, "staging.date_mentions", DATE_MENTION_COLUMNS, mentions)

    with transaction(dsn) as cur:
        if batch is None:
            cur.execute("delete from staging.date_mentions where run_id = %s", (rid,))
        else:
            _delete_batch_rows(cur, "staging.date_mentions", rid, batch)
        documents, mentions = _each_chunk(cur, rid, work, write, batch=batch, columns=DATE_READ, exprs=DATE_READ_EXPRS)
        out = {"documents": documents, "dated": dated, "mentions": mentions}
        if batch is None:
            return out | {"calendar_days_added": _date_tag_finish(cur, run)["calendar_days_added"]}
    return {"batch": batch, **out}


def date_tag_finish(dsn: str, run: Run) -> dict:
    """The day-level part of date-tagging, after every batch: calendar rows and date coverage per outlet."""
    with transaction(dsn) as cur:
        return _date_tag_finish(cur, run)


def _date_tag_finish(cur, run: Run) -> dict:
    from khabar.dates import calendar_row

    rid = run.run_id
    # Each document's mentions counted through the primary key of date_mentions: the stages' fresh rows have
    # no statistics yet, and a join to the grouped mentions was planned as a nested loop (5 s at 10k documents).
    cur.execute(
        "select d.source_path, d.record_index, d.outlet, d.published_at, d.date_source, d.date_confidence,"
        " d.date_weekday_mismatch, d.body is null,"
        " (select count(*) from staging.date_mentions m where m.run_id = d.run_id and m.doc_id = d.doc_id)"
        " from staging.documents d where d.run_id = %(run_id)s and d.status = 'active' order by d.source_path, d.record_index",
        {"run_id": rid},
    )
    rows = cur.fetchall()
    missing = [f"{path}#{index}" for path, index, _, _, source, _, _, no_body, _ in rows if source is None or no_body]
    if missing:
        raise IncompleteStage(f"day {rid}: {len(missing)} documents were not normalized and date-tagged, e.g. {missing[:3]}")
    for table in ("calendar", "date_coverage"):
        cur.execute(f"delete from staging.{table} where run_id = %s", (rid,))
    # The calendar must stay one contiguous row per day from the earliest published day to the
    # latest; stage the days this run adds to the range already in the warehouse.
    cur.execute("select min(day), max(day) from reporting.calendar")
    have_min, have_max = cur.fetchone()
    days = [run.day] + [_tehran_day(row[3]) for row in rows if row[3] is not None]
    low, high = min(days + ([have_min] if have_min else [])), max(days + ([have_max] if have_max else []))
    added = copy_records(
        cur, "staging.calendar",
        ("run_id", "day", "jalali_date", "jalali_year", "jalali_month", "jalali_month_name", "jalali_day", "weekday_name",
         "weekday_no", "week_start", "jalali_week"),
        ((rid, *calendar_row(day)) for day in _days(low, high) if have_min is None or not have_min <= day <= have_max),
    )
    copy_records(
        cur, "staging.date_coverage",
        ("run_id", "outlet", "documents", "dated", "coverage", "from_html_meta", "from_dateline", "from_link",
         "from_record_field", "low_confidence", "weekday_mismatches", "mentions"),
        _date_coverage(rid, [row[2:7] + row[8:] for row in rows]),
    )
    return {"documents": len(rows), "dated": sum(1 for row in rows if row[3] is not None), "calendar_days_added": added}


def _tehran_day(when) -> date:
    from khabar.dates import TEHRAN

    return when.astimezone(TEHRAN).date()


def _days(low: date, high: date) -> list[date]:
    from datetime import timedelta

    return [low + timedelta(days=i) for i in range((high - low).days + 1)]


def _date_coverage(run_id: str, docs: list[tuple]) -> list[tuple]:
    """One row per outlet: how many of its documents got a date, from which evidence, how surely.
    ``docs``: ``(outlet, published_at, date_source, date_confidence, date_weekday_mismatch, mentions)``."""
    by_outlet: dict[str, list[tuple]] = {}
    for doc in docs:
        by_outlet.setdefault(doc[0] or "(unknown)", []).append(doc)
    rows = []
    for outlet, group in sorted(by_outlet.items()):
        dated = [d for d in group if d[1] is not None]
        sources = [d[2] for d in dated]
        rows.append((
            run_id, outlet, len(group), len(dated), round(len(dated) / len(group), 4),
            sources.count("html_meta"), sources.count("dateline"), sources.count("link"), sources.count("record_field"),
            sum(1 for d in dated if (d[3] or 0) < 0.8),
            sum(1 for d in dated if d[4]), sum(d[5] for d in group),
        ))
    return rows


def dedup(dsn: str, run: Run, batch: int | None = None) -> dict:
    """Exact copies become duplicates of the first; near-copies join a story, within the run and
    against every article of other days already in the warehouse (band keys joined in SQL, stored
    shingles verified in Python). A document bridging two stories merges them into the older.
    Two parts (khabar.dedup_stage): ``prepare`` fingerprints the documents (per batch, re-runnable),
    ``decide`` (the finish, :func:`dedup_decide`) makes the run's decisions with memory that does not
    grow with the run or the warehouse. Without ``batch``: both, for the whole day."""
    from khabar.dedup_stage import decide, prepare

    if batch is not None:
        return {"batch": batch} | prepare(dsn, run.run_id, where=f"batch_no = {int(batch)}")
    prepare(dsn, run.run_id)
    return decide(dsn, run.run_id)


def dedup_decide(dsn: str, run: Run) -> dict:
    """Dedup's day-level finish: every decision of the run from the batches' fingerprints."""
    from khabar.dedup_stage import decide

    return decide(dsn, run.run_id)


def load_sql() -> str:
    return (INCLUDE_DIR / "sql" / "load_run.sql").read_text(encoding="utf-8")


LSH_BANDS_BEGIN, LSH_BANDS_END = "-- lsh_bands: begin", "-- lsh_bands: end"


def split_load_sql(sql: str) -> tuple[str, str | None, str]:
    """load_run.sql as (before, the reporting.lsh_bands statement, after): the statement between the
    "lsh_bands" markers, which ``run_load_sql`` replaces with a COPY; (sql, None, "") without the markers."""
    if LSH_BANDS_BEGIN not in sql:
        return sql, None, ""
    before, rest = sql.split(LSH_BANDS_BEGIN, 1)
    statement, after = rest.split(LSH_BANDS_END, 1)
    return before, statement, after


def run_load_sql(cur, sql: str, params: dict) -> None:
    """The load's SQL, with its reporting.lsh_bands rows COPYed (``khabar.dedup_stage.copy_run_bands``) where the
    script inserts them, or inserted by the script's statement when the COPY declines."""
    from khabar.dedup_stage import copy_run_bands

    before, statement, after = split_load_sql(sql)
    cur.execute(before, params)
    if statement is not None:
        if not copy_run_bands(cur, params["run_id"]):
            cur.execute(statement, params)
        cur.execute(after, params)


def load(dsn: str, run: Run) -> dict:
    """Move the run from staging into reporting in one transaction, replacing any earlier load of
    the same day; recompute the stories the run touches. A crash anywhere inside rolls all of it
    back: the warehouse holds the whole run or the previous state, and a retry completes it."""
    from khabar.reprocess import keep_stage_outputs

    with transaction(dsn) as cur:
        # Loads of different days serialise here: they may recompute the same stories.
        cur.execute("select pg_advisory_xact_lock(hashtext('news_load'))")
        check_staging(cur, run.run_id)  # an emptied staging would load the day as empty
        params = {"run_id": run.run_id, "airflow_run_id": run.airflow_run_id, "version": pipeline_version()}
        run_load_sql(cur, load_sql(), params)
        keep_stage_outputs(cur, run.run_id)  # what re-processing a part of the chain starts from (khabar.reprocess)
        cur.execute(
            "select documents_seen, articles_loaded, duplicates, quarantined, files_discovered, files_loaded,"
            " files_duplicate, files_quarantined from reporting.runs where run_id = %s",
            (run.run_id,),
        )
        seen, articles, duplicates, quarantined, f_in, f_loaded, f_dup, f_quar = cur.fetchone()
        cur.execute("select count(distinct story_id) from reporting.articles where run_id = %s", (run.run_id,))
        (stories,) = cur.fetchone()
    return {
        "documents": seen, "articles": articles, "duplicates": duplicates, "quarantined": quarantined, "stories": stories,
        "files": f_in, "files_loaded": f_loaded, "files_duplicate": f_dup, "files_quarantined": f_quar,
    }


STAGE_FUNCTIONS = {"ingest": ingest, "strip": strip, "normalize": normalize, "date_tag": date_tag, "dedup": dedup, "load": load}
# The day-level step after a batch stage's mapped tasks (normalize has none: it is per document only).
FINISH_FUNCTIONS = {"strip": strip_finish, "date_tag": date_tag_finish, "dedup": dedup_decide}


def run_stage(dsn: str, stage: str, run: Run, batch: int | None = None) -> dict:
    """One stage for the whole day under the day's lock (a second run of the same day fails with
    ``RunLocked``); or, with ``batch``, one batch of a per-document stage under the lock shared with the
    run's other batch tasks, and only if this run ingested the day (else ``RunSuperseded``)."""
    if batch is None:
        with day_lock(dsn, run.run_id):
            return STAGE_FUNCTIONS[stage](dsn, run)
    if stage not in BATCH_STAGES:
        raise ValueError(f"stage {stage!r} does not run in batches; batch stages: {BATCH_STAGES}")
    with day_lock(dsn, run.run_id, shared=True):
        check_owner(dsn, run)
        return STAGE_FUNCTIONS[stage](dsn, run, batch)


def run_finish(dsn: str, stage: str, run: Run) -> dict:
    """A batch stage's day-level finish, once its batches are done, under the day's lock alone
    (no batch of any run writes meanwhile), and only if this run ingested the day."""
    with day_lock(dsn, run.run_id):
        check_owner(dsn, run)
        return FINISH_FUNCTIONS[stage](dsn, run)


def run_gate(dsn: str, stage: str, run: Run) -> dict:
    """One stage's gate under the day's lock (it reads what a concurrent run would be rewriting). A gate on
    staging refuses (``StagingLost``) a day whose staging a crash emptied: it would pass on no rows at all."""
    from khabar.gates import validate_stage
    from khabar.warehouse import autocommit_cursor

    with day_lock(dsn, run.run_id):
        if stage != "load":
            with autocommit_cursor(dsn) as cur:  # the lock's connection: one select, no connection of its own
                check_staging(cur, run.run_id)
            vacuum_staging(dsn, STAGE_PLANNED_WRITES.get(stage, PLANNED_COLUMNS))
        return validate_stage(dsn, stage, run.run_id, run.day, run.airflow_run_id)


def vacuum_staging(dsn: str, analyze: tuple[str, ...] = ()) -> None:
    """VACUUM staging.documents: every stage rewrites each of the day's rows, so without a vacuum between
    stages the table holds five versions of every row by the load, and every later read of a batch walks
    them (more than shared_buffers holds at 100k documents). Autovacuum would do it in time on a default
    server, not on one where it is off or behind. Runs at each gate, after the stage and before the next.
    Statistics for ``analyze``, columns that queries select, join and sort on (``PLANNED_COLUMNS``) and that
    the stage wrote: those of the texts (sampled, detoasted) were most of its time (160 ms against 60 ms at
    10k documents) and no plan uses them; those of a column the stage left alone have not changed."""
    from khabar.warehouse import autocommit_cursor

    with autocommit_cursor(dsn) as cur:
        cur.execute(f"vacuum (analyze) staging.documents ({', '.join(analyze)})" if analyze else "vacuum staging.documents")


# The columns of staging.documents that the stages, gates and the load filter, join, group or sort on.
PLANNED_COLUMNS = (
    "run_id", "doc_id", "batch_no", "status", "file_id", "source_path", "record_index", "outlet", "body_hash",
    "duplicate_of", "story_id", "published_at",
)
# Those each stage writes (ingest all: its rows are new), so its gate refreshes their statistics and no other
# (an analyze of all twelve was 60 ms at 10k documents; normalize writes none). A stage not named here: all.
# tests/integration/test_gate_vacuum.py checks on the sample days that no stage changes a planned column it
# does not list here.
STAGE_PLANNED_WRITES: dict[str, tuple[str, ...]] = {
    "ingest": PLANNED_COLUMNS,
    "strip": ("status", "outlet"),
    "normalize": (),
    "date_tag": ("published_at",),
    "dedup": ("status", "body_hash", "duplicate_of", "story_id"),
}


def run_day(dsn: str, run: Run, gate: bool = True) -> dict:
    """Every stage and its gate, in order, in this process (what the DAG does task by task).
    The day's lock is held throughout, so no other run of the day can interleave."""
    from khabar.gates import validate_stage

    out = {}
    with day_lock(dsn, run.run_id):
        for stage in STAGES:
            out[stage] = STAGE_FUNCTIONS[stage](dsn, run)
            if gate:
                validate_stage(dsn, stage, run.run_id, run.day, run.airflow_run_id)
    return out
