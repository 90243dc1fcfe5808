"""Re-processing: re-run strip → normalize → date-tag → dedup → load over the raw documents the warehouse
already holds, when the rules change, without reading the landing zone; then report what changed.

A day is rebuilt into ``staging`` from ``reporting``: each article's ``raw_text``, each duplicate's
``raw_text`` (migration 008), each document a later stage quarantined (``quarantine.raw_record``), the
file-level rows of ``reporting.files`` (format, encoding, sha256) and the ingest-stage quarantine rows as
they were. JSON records are stored as the record's JSON text, so ``khabar.ingest.parse_file`` rebuilds the
same document (title, metadata) ingest made. Then the stages and their gates run as in ``news_ingest``, the
load replaces the day, and ``reporting.reprocess_changes`` records, per document, the outcome, body, date
or story that moved, with the pipeline versions before and after.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from psycopg2.extras import execute_values

from khabar.document import Document, make_id
from khabar.pipeline import STAGE_FUNCTIONS, Run
from khabar.warehouse import apply_migrations, day_lock, transaction

REPROCESS_STAGES = ("strip", "normalize", "date_tag", "dedup")
CHANGES = ("outcome", "body", "date", "story")
# Re-processing never reads the landing zone: a Run needs a root, and this one does not exist.
NO_LANDING = Path("/nonexistent/landing-zone-not-read-by-reprocessing")


class ReprocessError(RuntimeError):
    """A day cannot be rebuilt from the warehouse alone."""


def check_stages(stages: Sequence[str] | None) -> tuple[str, ...]:
    """The stages to re-run, in pipeline order. Only the whole chain is accepted: the warehouse keeps
    each document as read and its final columns, not the text between stages, so re-running dedup
    alone, say, would need a body no table holds for duplicates and quarantined documents."""
    chosen = tuple(REPROCESS_STAGES if not stages else stages)
    unknown = sorted(set(chosen) - set(REPROCESS_STAGES))
    if unknown:
        raise ValueError(f"unknown stages {unknown}; choose from {list(REPROCESS_STAGES)}")
    if set(chosen) != set(REPROCESS_STAGES):
        raise ValueError(
            f"stages {sorted(chosen)}: re-processing rebuilds documents from their raw text, so it runs"
            f" {' → '.join(REPROCESS_STAGES)} together (the warehouse keeps no text between stages)"
        )
    return REPROCESS_STAGES


def loaded_days(dsn: str, from_day: date, to_day: date) -> list[date]:
    """The days in ``[from_day, to_day]`` the warehouse holds a load of (others have nothing to re-process)."""
    if to_day < from_day:
        raise ValueError(f"to_day {to_day} is before from_day {from_day}")
    with transaction(dsn) as cur:
        cur.execute(
            "select run_id from reporting.runs where run_id between %s and %s order by run_id",
            (from_day.isoformat(), to_day.isoformat()),
        )
        return [date.fromisoformat(r[0]) for r in cur.fetchall()]


# ------------------------------------------------------------------------------ rebuild


_SNAPSHOT_SQL = """
delete from staging.reprocess_before where run_id = %(run_id)s and reprocess_id <> %(rid)s;
insert into staging.reprocess_before (reprocess_id, run_id, source_path, record_index, outcome, body_hash,
                                      published_at, story_id, pipeline_version)
select %(rid)s, %(run_id)s, d.* from (
    select a.source_path, a.record_index, 'article', a.body_hash, a.published_at, a.story_id,
           coalesce(a.pipeline_version, r.pipeline_version)
      from reporting.articles a left join reporting.runs r on r.run_id = a.run_id where a.run_id = %(run_id)s
    union all
    select u.source_path, u.record_index, 'duplicate', u.body_hash, null, null, r.pipeline_version
      from reporting.duplicates u left join reporting.runs r on r.run_id = u.run_id where u.run_id = %(run_id)s
    union all
    select q.source_path, q.record_index, 'quarantined', null, null, null, r.pipeline_version
      from reporting.quarantine q left join reporting.runs r on r.run_id = q.run_id
     where q.run_id = %(run_id)s and q.stage <> 'ingest'
) d
-- a retried re-processing run keeps the state from before its first attempt
where not exists (select 1 from staging.reprocess_before b where b.reprocess_id = %(rid)s and b.run_id = %(run_id)s);
"""


def rebuild_document(source_path: str, record_index: int, raw_text: str, file_format: str, encoding: str | None) -> Document:
    """The document ingest made, from what the warehouse kept: a text/HTML file's text, or a JSON record's JSON.

    >>> doc = rebuild_document("crawl.jsonl", 3, '{"title": "سلام", "body": "متن خبر"}', "jsonl", "utf-8")
    >>> (doc.record_index, doc.raw_title, doc.meta["encoding"])
    (3, 'سلام', 'utf-8')
    """
    from khabar.ingest import parse_file

    fmt = "json" if file_format in ("json", "jsonl") else file_format
    docs, bad = parse_file(source_path, raw_text, fmt, make_id(source_path))
    if len(docs) != 1 or bad:
        raise ReprocessError(f"{source_path}#{record_index}: its stored text no longer parses as one document")
    doc = docs[0]
    doc.record_index, doc.doc_id = record_index, make_id(source_path, record_index)
    doc.meta["encoding"] = encoding
    return doc


def rebuild_staging(dsn: str, run: Run, reprocess_id: str) -> dict:
    """Replace the day's staging rows with the documents and files the warehouse holds (one transaction),
    after keeping the day's current state for the change report."""
    with transaction(dsn) as cur:
        cur.execute(_SNAPSHOT_SQL, {"run_id": run.run_id, "rid": reprocess_id})
        cur.execute(
            "select source_path, sha256, size_bytes, file_format, encoding from reporting.files where run_id = %s",
            (run.run_id,),
        )
        files = {path: (sha, size, fmt, enc) for path, sha, size, fmt, enc in cur.fetchall()}
        cur.execute(
            "select source_path, record_index, raw_text from reporting.articles where run_id = %(d)s"
            " union all select source_path, record_index, raw_text from reporting.duplicates where run_id = %(d)s"
            " union all select source_path, record_index, raw_record from reporting.quarantine"
            " where run_id = %(d)s and stage <> 'ingest' order by 1, 2",
            {"d": run.run_id},
        )
        rows = cur.fetchall()
        missing = [f"{p}#{i}" for p, i, raw in rows if raw is None or p not in files]
        if missing:
            raise ReprocessError(
                f"day {run.run_id}: {len(missing)} documents have no stored text or file row (loaded before"
                f" migration 008?), e.g. {missing[:3]}; run news_ingest for the day once from the landing zone"
            )
        docs = [rebuild_document(p, i, raw, files[p][2], files[p][3]) for p, i, raw in rows]
        for table in ("stripped_lines", "quarantine", "documents", "files"):
            cur.execute(f"delete from staging.{table} where run_id = %s", (run.run_id,))
        with_docs = {d.source_path for d in docs}
        if files:
            execute_values(
                cur,
                "insert into staging.files (run_id, file_id, source_path, size_bytes, sha256, encoding, file_format, status)"
                " values %s",
                [
                    (run.run_id, make_id(p), p, size or 0, sha or "", enc, fmt, "parsed" if p in with_docs else "quarantined")
                    for p, (sha, size, fmt, enc) in sorted(files.items())
                ],
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
        # What ingest refused (unreadable files, bad records) stays as it was: there is nothing to re-run.
        cur.execute(
            "insert into staging.quarantine (run_id, source_path, record_index, stage, reason, sha256, size_bytes,"
            " evidence_path, raw_record) select run_id, source_path, record_index, stage, reason, sha256, size_bytes,"
            " evidence_path, raw_record from reporting.quarantine where run_id = %s and stage = 'ingest'",
            (run.run_id,),
        )
        ingest_quarantined = cur.rowcount
    return {"files": len(files), "documents": len(docs), "ingest_quarantined": ingest_quarantined}


# ------------------------------------------------------------------------------ change report


_CHANGES_SQL = """
delete from reporting.reprocess_changes where reprocess_id = %(rid)s and run_id = %(run_id)s;
with after as (
    select a.source_path, a.record_index, 'article' as outcome, a.body_hash, a.published_at, a.story_id,
           a.pipeline_version
      from reporting.articles a where a.run_id = %(run_id)s
    union all
    select source_path, record_index, 'duplicate', body_hash, null, null, null
      from reporting.duplicates where run_id = %(run_id)s
    union all
    select source_path, record_index, 'quarantined', null, null, null, null
      from reporting.quarantine where run_id = %(run_id)s and stage <> 'ingest'
), before as (
    select * from staging.reprocess_before where reprocess_id = %(rid)s and run_id = %(run_id)s
), pairs as (
    select coalesce(b.source_path, a.source_path) as source_path, coalesce(b.record_index, a.record_index) as record_index,
           b.outcome as old_outcome, a.outcome as new_outcome, b.body_hash as old_hash, a.body_hash as new_hash,
           b.published_at as old_date, a.published_at as new_date, b.story_id as old_story, a.story_id as new_story,
           b.pipeline_version as old_version, coalesce(a.pipeline_version, r.pipeline_version) as new_version
      from before b
      full join after a on a.source_path = b.source_path and a.record_index = b.record_index
      left join reporting.runs r on r.run_id = %(run_id)s
)
insert into reporting.reprocess_changes (reprocess_id, run_id, article_id, source_path, record_index, change,
                                         old_value, new_value, old_version, new_version)
select %(rid)s, %(run_id)s,
       left(encode(sha256(convert_to(p.source_path || chr(31) || p.record_index::text, 'UTF8')), 'hex'), 16),  -- khabar.document.make_id
       p.source_path, p.record_index, v.change, v.old_value, v.new_value, p.old_version, p.new_version
  from pairs p
 cross join lateral (values
    ('outcome', p.old_outcome, p.new_outcome),
    -- body, date and story compare like with like: an outcome change already says the rest
    ('body', case when p.new_hash is not null then p.old_hash end, case when p.old_hash is not null then p.new_hash end),
    ('date', case when p.old_outcome = 'article' and p.new_outcome = 'article' then to_char(p.old_date at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') end,
             case when p.old_outcome = 'article' and p.new_outcome = 'article' then to_char(p.new_date at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') end),
    ('story', case when p.old_outcome = 'article' and p.new_outcome = 'article' then p.old_story end,
              case when p.old_outcome = 'article' and p.new_outcome = 'article' then p.new_story end)
 ) as v (change, old_value, new_value)
 where v.old_value is distinct from v.new_value;
"""


def record_changes(dsn: str, run: Run, reprocess_id: str) -> dict:
    """Compare the day after its re-processing with the state kept before it; store the differences
    in ``reporting.reprocess_changes`` (replacing this re-processing run's rows for the day)."""
    with transaction(dsn) as cur:
        cur.execute(_CHANGES_SQL, {"run_id": run.run_id, "rid": reprocess_id})
        cur.execute(
            "select change, count(*) from reporting.reprocess_changes where reprocess_id = %s and run_id = %s group by 1",
            (reprocess_id, run.run_id),
        )
        counts = dict(cur.fetchall())
        cur.execute(
            "select count(distinct article_id) from reporting.reprocess_changes where reprocess_id = %s and run_id = %s",
            (reprocess_id, run.run_id),
        )
        (documents_changed,) = cur.fetchone()
        cur.execute(
            "select count(*), min(pipeline_version), max(pipeline_version) from staging.reprocess_before"
            " where reprocess_id = %s and run_id = %s",
            (reprocess_id, run.run_id),
        )
        compared, old_min, old_max = cur.fetchone()
        cur.execute("select pipeline_version from reporting.runs where run_id = %s", (run.run_id,))
        (new_version,) = cur.fetchone()
    return {
        "documents": compared,
        "documents_changed": documents_changed,
        **{change: counts.get(change, 0) for change in CHANGES},
        "old_versions": sorted({v for v in (old_min, old_max) if v}),
        "new_version": new_version,
    }


# ------------------------------------------------------------------------------ the runs


def reprocess_day(dsn: str, run: Run, reprocess_id: str, stages: Sequence[str] | None = None, gate: bool = True) -> dict:
    """Rebuild the day from the warehouse, re-run the stages and their gates, load, report the changes;
    all under the day's lock, so an ingest of the same day cannot interleave (it fails with ``RunLocked``)."""
    from khabar.gates import validate_stage

    chosen = check_stages(stages)
    out: dict = {"day": run.run_id}
    with day_lock(dsn, run.run_id):
        out["rebuilt"] = rebuild_staging(dsn, run, reprocess_id)
        # the ingest gate checks the rebuild itself: every file became documents or kept its quarantine row
        for stage in ("ingest", *chosen, "load"):
            if stage != "ingest":
                out[stage] = STAGE_FUNCTIONS[stage](dsn, run)
            if gate:
                validate_stage(dsn, stage, run.run_id, run.day, run.airflow_run_id)
        out["changes"] = record_changes(dsn, run, reprocess_id)
    return out


def reprocess_range(
    dsn: str, from_day: date, to_day: date, reprocess_id: str, stages: Sequence[str] | None = None, gate: bool = True
) -> dict:
    """Every loaded day of the range in order (what the ``news_reprocess`` DAG does task by task)."""
    check_stages(stages)
    apply_migrations(dsn)
    days = {}
    for day in loaded_days(dsn, from_day, to_day):
        days[day.isoformat()] = reprocess_day(dsn, Run(day, NO_LANDING, reprocess_id), reprocess_id, stages, gate)
    return summarize([d["changes"] | {"day": k} for k, d in days.items()])


def summarize(day_changes: list[dict]) -> dict:
    """One summary of the per-day change counts (the DAG's last task returns it)."""
    total = Counter()
    for changes in day_changes:
        total.update({k: changes.get(k, 0) for k in ("documents", "documents_changed", *CHANGES)})
    return {"days": [c["day"] for c in day_changes], **{k: total[k] for k in ("documents", "documents_changed", *CHANGES)},
            "new_versions": sorted({c["new_version"] for c in day_changes if c.get("new_version")})}
