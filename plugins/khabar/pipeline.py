"""The pipeline, top to bottom: ingest → strip → normalize → date-tag → dedup → load.

Each stage reads the run's rows from ``staging``, applies one step per document, and writes its
columns back in one transaction, so a retried stage starts from the same state. ``load`` moves
the run into ``reporting`` in one transaction: re-running a day leaves the same rows.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from psycopg2.extras import execute_values

from khabar.document import Document, Quarantined
from khabar.paths import INCLUDE_DIR, PROJECT_ROOT, SAMPLE_LANDING_DIR
from khabar.warehouse import apply_migrations, day_lock, quote_literal, transaction

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


@dataclass(frozen=True)
class Run:
    """One run of the pipeline: the landing partition of one day (Asia/Tehran)."""

    day: date
    landing_root: Path
    airflow_run_id: str | None = None
    max_file_bytes: int = 50 * 1024 * 1024
    quarantine_dir: Path | None = None  # None: env NEWS_QUARANTINE_DIR, else <project>/.quarantine

    @property
    def run_id(self) -> str:
        # The warehouse identifies a run by its day, so a re-run or backfill of that day replaces it.
        return self.day.isoformat()


def landing_root_from_env() -> Path:
    return Path(os.environ.get("NEWS_LANDING_DIR") or SAMPLE_LANDING_DIR)


def quarantine_dir(run: Run) -> Path:
    """Where quarantined files' bytes are copied (keyed by sha256): kept apart from the landing zone."""
    return Path(run.quarantine_dir or os.environ.get("NEWS_QUARANTINE_DIR") or PROJECT_ROOT / ".quarantine")


def pipeline_version() -> str:
    """What produces the articles: library, lexicon, a digest of the rule files and one of the settings
    (``khabar.version``), e.g. ``khabar-0.1.0+lexicon-2+rules-762fb038+cfg-6a703212``."""
    from khabar.version import pipeline_version as compose

    return compose()


# ------------------------------------------------------------------------------ staging helpers


def _read_documents(cur, run_id: str, statuses: tuple[str, ...] = ("active",)) -> list[Document]:
    cur.execute(
        f"select {', '.join(DOC_COLUMNS)} from staging.documents where run_id = %s and status in %s"
        " order by source_path, record_index",
        (run_id, statuses),
    )
    return [Document(**dict(zip(DOC_COLUMNS, row, strict=False))) for row in cur.fetchall()]


def _update_documents(cur, run_id: str, docs: list[Document], columns: tuple[str, ...]) -> None:
    if not docs:
        return
    sets = ", ".join(f"{c} = v.{c}" for c in columns)
    casts = {"meta": "::jsonb", "published_at": "::timestamptz", "word_count": "::integer"}
    rows = [(d.doc_id, *(_db_value(c, getattr(d, c)) for c in columns)) for d in docs]
    template = "(" + ", ".join(["%s"] + [f"%s{casts.get(c, '')}" for c in columns]) + ")"
    execute_values(
        cur,
        f"update staging.documents d set {sets} from (values %s) as v (doc_id, {', '.join(columns)})"
        f" where d.run_id = {quote_literal(run_id)} and d.doc_id = v.doc_id",
        rows,
        template=template,
    )


def _db_value(column: str, value):
    return json.dumps(value, ensure_ascii=False, default=str) if column == "meta" else value


def _quarantine(cur, run_id: str, items: list[Quarantined]) -> None:
    if items:
        execute_values(
            cur,
            "insert into staging.quarantine (run_id, source_path, record_index, stage, reason, sha256, size_bytes,"
            " evidence_path, raw_record) values %s on conflict (run_id, source_path, record_index) do update set"
            " stage = excluded.stage, reason = excluded.reason",
            [
                (run_id, q.source_path, q.record_index, q.stage, q.reason, q.sha256, q.size_bytes,
                 q.evidence_path, q.raw_record)
                for q in items
            ],
        )


# ------------------------------------------------------------------------------ stages


def ingest(dsn: str, run: Run) -> dict:
    """Discover the day's files, read and decode them, record each file; quarantine what fails
    (with a copy of its bytes). Refused paths are recorded as files too: every discovered file
    has a row in ``staging.files``, the left side of the load gate's conservation."""
    from khabar.document import make_id
    from khabar.ingest import IngestedFile, discover_files, ingest_file

    apply_migrations(dsn)
    files, refused = discover_files(run.landing_root, run.day)
    evidence = quarantine_dir(run)
    infos = [IngestedFile(q.source_path, make_id(q.source_path), 0, "", None, "unknown", "quarantined") for q in refused]
    docs, bad = [], list(refused)
    for lf in files:
        info, file_docs, file_bad = ingest_file(lf, run.max_file_bytes, evidence)
        infos.append(info)
        docs += file_docs
        bad += file_bad
    with transaction(dsn) as cur:
        for table in ("stripped_lines", "quarantine", "documents", "files"):
            cur.execute(f"delete from staging.{table} where run_id = %s", (run.run_id,))
        if infos:
            execute_values(
                cur,
                "insert into staging.files (run_id, file_id, source_path, size_bytes, sha256, encoding, file_format, status)"
                " values %s",
                [(run.run_id, f.file_id, f.relpath, f.size_bytes, f.sha256, f.encoding, f.file_format, f.status) for f in infos],
            )
        if docs:
            execute_values(
                cur,
                "insert into staging.documents (run_id, doc_id, file_id, source_path, record_index, file_format,"
                " status, raw_text, raw_title, meta) values %s",
                [
                    (run.run_id, d.doc_id, d.file_id, d.source_path, d.record_index, d.file_format, "active",
                     d.raw_text, d.raw_title, json.dumps(d.meta, ensure_ascii=False))
                    for d in docs
                ],
            )
        _quarantine(cur, run.run_id, bad)
    return {"files": len(infos), "documents": len(docs), "quarantined": len(bad)}


def strip(dsn: str, run: Run) -> dict:
    """HTML to text and furniture out (structure, lexicon, then lines learned per outlet); every
    removed line kept with its rule; credits to their columns; heavy losses flagged for review."""
    from khabar.strip import Stripper, StripSettings, count_outlet_lines, remove_outlet_furniture

    stripper, settings = Stripper(), StripSettings.from_env()
    with transaction(dsn) as cur:
        docs = _read_documents(cur, run.run_id)
        for table in ("stripped_lines", "outlet_lines"):
            cur.execute(f"delete from staging.{table} where run_id = %s", (run.run_id,))
        for doc in docs:
            stripper.strip_document(doc, settings.review_loss_share)
        # Learned furniture: this run's counts plus earlier runs' inside the window. Only run_id < this
        # one counts, so a re-run of a day (or a backfill after later days) sees the same evidence.
        counts = count_outlet_lines(docs)
        cur.execute(
            "select outlet, line_key, sum(documents) from reporting.outlet_lines"
            " where run_id < %s and run_id >= %s and outlet = any(%s) group by 1, 2",
            (run.run_id, date.fromordinal(run.day.toordinal() - settings.window_days).isoformat(), sorted({o for o, _ in counts})),
        )
        evidence = {(outlet, key): n for outlet, key, n in cur.fetchall()}
        furniture = {
            k for k in counts.keys() | evidence.keys()
            if counts.get(k, ("", 0))[1] + evidence.get(k, 0) >= settings.min_documents
        }
        learned = sum(remove_outlet_furniture(doc, furniture, settings.review_loss_share) for doc in docs)
        empty = []
        for doc in docs:
            if not doc.stripped_text.strip():
                doc.status = "quarantined"
                empty.append(Quarantined(doc.source_path, "strip", "empty after boilerplate removal", doc.record_index))
        _update_documents(
            cur, run.run_id, docs,
            ("stripped_text", "title", "outlet", "meta", "status", "byline", "photo_credit", "cited_source",
             "text_loss", "needs_review"),
        )
        lines = [(run.run_id, d.doc_id, s.line_no, s.line, s.rule) for d in docs for s in d.stripped]
        if lines:
            execute_values(cur, "insert into staging.stripped_lines (run_id, doc_id, line_no, line, rule) values %s", lines)
        if counts:
            execute_values(
                cur,
                "insert into staging.outlet_lines (run_id, outlet, line_key, line, documents) values %s",
                [(run.run_id, outlet, key, line, n) for (outlet, key), (line, n) in counts.items()],
            )
        _quarantine(cur, run.run_id, empty)
    return {
        "documents": len(docs),
        "lines_removed": len(lines),
        "learned_furniture_lines": learned,
        "flagged_for_review": sum(1 for d in docs if d.needs_review and d.status == "active"),
        "quarantined": len(empty),
    }


def normalize(dsn: str, run: Run) -> dict:
    """hazm-based normalization of body and title; the raw text stays beside them."""
    from khabar.normalize import normalize_text

    with transaction(dsn) as cur:
        docs = _read_documents(cur, run.run_id)
        for doc in docs:
            doc.body = normalize_text(doc.stripped_text or "")
            doc.title = normalize_text(doc.title) if doc.title else None
            doc.word_count = len(doc.body.split())
        _update_documents(cur, run.run_id, docs, ("body", "title", "word_count"))
    return {"documents": len(docs)}


def date_tag(dsn: str, run: Run) -> dict:
    """Publication date from metadata, datelines, link or record field, with its confidence; every
    date the body mentions; the calendar rows the run's days need; date coverage per outlet."""
    from khabar.dates import calendar_row, header_datelines, tag_date, tag_mentions

    with transaction(dsn) as cur:
        docs = _read_documents(cur, run.run_id)
        for doc in docs:
            datelines = header_datelines(doc.raw_text, doc.meta.get("datelines") or [], doc.stripped_text or "")
            result = tag_date(doc.meta, datelines, doc.source_path, run.day)
            doc.published_at, doc.published_jalali = result.published_at, result.published_jalali
            doc.date_source, doc.date_evidence, doc.date_reason = result.source, result.evidence, result.reason
            doc.date_confidence, doc.date_calendar = result.confidence, result.calendar
            doc.date_weekday_mismatch = result.weekday_mismatch
            doc.mentions = tag_mentions(doc.body or "", doc.published_at)
        _update_documents(
            cur, run.run_id, docs, ("published_at", "published_jalali", "date_source", "date_evidence", "date_reason")
        )
        if docs:  # typed here: a column of nulls would otherwise reach postgres as text
            execute_values(
                cur,
                "update staging.documents d set date_confidence = v.c, date_calendar = v.cal,"
                " date_weekday_mismatch = v.w from (values %s) as v (doc_id, c, cal, w)"
                f" where d.run_id = {quote_literal(run.run_id)} and d.doc_id = v.doc_id",
                [(d.doc_id, d.date_confidence, d.date_calendar, d.date_weekday_mismatch) for d in docs],
                template="(%s, %s::real, %s::text, %s::text)",
            )
        for table in ("date_mentions", "calendar", "date_coverage"):
            cur.execute(f"delete from staging.{table} where run_id = %s", (run.run_id,))
        mentions = [
            (run.run_id, d.doc_id, m.start, m.end, m.surface, m.day, m.jalali, m.calendar, m.kind, m.weekday_ok, m.confidence)
            for d in docs for m in d.mentions
        ]
        if mentions:
            execute_values(
                cur,
                "insert into staging.date_mentions (run_id, doc_id, start_char, end_char, surface, resolved_day,"
                " resolved_jalali, calendar, kind, weekday_ok, confidence) values %s",
                mentions,
            )
        # The calendar must stay one contiguous row per day from the earliest published day to the
        # latest; stage the days this run adds to the range already in the warehouse.
        cur.execute("select min(day), max(day) from reporting.calendar")
        have_min, have_max = cur.fetchone()
        days = [run.day] + [_tehran_day(d.published_at) for d in docs if d.published_at is not None]
        low, high = min(days + ([have_min] if have_min else [])), max(days + ([have_max] if have_max else []))
        rows = [
            (run.run_id, *calendar_row(day))
            for day in _days(low, high)
            if have_min is None or not have_min <= day <= have_max
        ]
        if rows:
            execute_values(
                cur,
                "insert into staging.calendar (run_id, day, jalali_date, jalali_year, jalali_month, jalali_month_name,"
                " jalali_day, weekday_name, weekday_no, week_start, jalali_week) values %s",
                rows,
            )
        coverage = _date_coverage(run.run_id, docs)
        if coverage:
            execute_values(
                cur,
                "insert into staging.date_coverage (run_id, outlet, documents, dated, coverage, from_html_meta,"
                " from_dateline, from_link, from_record_field, low_confidence, weekday_mismatches, mentions) values %s",
                coverage,
            )
    return {
        "documents": len(docs),
        "dated": sum(1 for d in docs if d.published_at is not None),
        "mentions": len(mentions),
        "calendar_days_added": len(rows),
    }


def _tehran_day(when) -> date:
    from khabar.dates import TEHRAN

    return when.astimezone(TEHRAN).date()


def _days(low: date, high: date) -> list[date]:
    from datetime import timedelta

    return [low + timedelta(days=i) for i in range((high - low).days + 1)]


def _date_coverage(run_id: str, docs: list[Document]) -> list[tuple]:
    """One row per outlet: how many of its documents got a date, from which evidence, how surely."""
    by_outlet: dict[str, list[Document]] = {}
    for doc in docs:
        by_outlet.setdefault(doc.outlet or "(unknown)", []).append(doc)
    rows = []
    for outlet, group in sorted(by_outlet.items()):
        dated = [d for d in group if d.published_at is not None]
        sources = [d.date_source for d in dated]
        rows.append((
            run_id, outlet, len(group), len(dated), round(len(dated) / len(group), 4),
            sources.count("html_meta"), sources.count("dateline"), sources.count("link"), sources.count("record_field"),
            sum(1 for d in dated if (d.date_confidence or 0) < 0.8),
            sum(1 for d in dated if d.date_weekday_mismatch), sum(len(d.mentions) for d in group),
        ))
    return rows


def dedup(dsn: str, run: Run) -> dict:
    """Exact copies become duplicates of the first; near-copies join a story, within the run and
    against every article of other days already in the warehouse (band keys joined in SQL, stored
    shingles verified in Python). A document bridging two stories merges them into the older.
    Two parts (khabar.dedup_stage): ``prepare`` fingerprints the documents (any subset, re-runnable),
    ``decide`` makes the run's decisions with memory that does not grow with the run or the warehouse."""
    from khabar.dedup_stage import decide, prepare

    prepare(dsn, run.run_id)
    return decide(dsn, run.run_id)


def load_sql() -> str:
    return (INCLUDE_DIR / "sql" / "load_run.sql").read_text(encoding="utf-8")


def load(dsn: str, run: Run) -> dict:
    """Move the run from staging into reporting in one transaction, replacing any earlier load of
    the same day; recompute the stories the run touches. A crash anywhere inside rolls all of it
    back: the warehouse holds the whole run or the previous state, and a retry completes it."""
    with transaction(dsn) as cur:
        # Loads of different days serialise here: they may recompute the same stories.
        cur.execute("select pg_advisory_xact_lock(hashtext('news_load'))")
        cur.execute(load_sql(), {"run_id": run.run_id, "airflow_run_id": run.airflow_run_id, "version": pipeline_version()})
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


def run_stage(dsn: str, stage: str, run: Run) -> dict:
    """One stage under the day's lock: a second run of the same day fails with ``RunLocked``."""
    with day_lock(dsn, run.run_id):
        return STAGE_FUNCTIONS[stage](dsn, run)


def run_gate(dsn: str, stage: str, run: Run) -> dict:
    """One stage's gate under the day's lock (it reads what a concurrent run would be rewriting)."""
    from khabar.gates import validate_stage

    with day_lock(dsn, run.run_id):
        return validate_stage(dsn, stage, run.run_id, run.day, run.airflow_run_id)


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
