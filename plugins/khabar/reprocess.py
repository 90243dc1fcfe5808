"""Re-processing: re-run strip → normalize → date-tag → dedup → load (or a part of that chain) over the
documents the warehouse already holds, when the rules change, without reading the landing zone; then
report what changed.

A day is rebuilt into ``staging`` from ``reporting``: each article's ``raw_text``, each duplicate's
``raw_text`` (migration 008), each document a later stage quarantined (``quarantine.raw_record``), the
file-level rows of ``reporting.files`` (format, encoding, sha256) and the ingest-stage quarantine rows as
they were. JSON records are stored as the record's JSON text, so ``khabar.ingest.parse_file`` rebuilds the
same document (title, metadata) ingest made. When the first stage to re-run is not strip, the outputs of
the stages before it come back too, from what the load kept in ``reporting.stage_outputs`` (migration 012:
each document's staging row, strip's title, its stripped lines and date mentions; since migration 021 an
article's body, lines and mentions from ``articles``, ``stripped_lines`` and ``date_mentions``) and the day's
rows of ``outlet_lines``, ``date_coverage`` and the quarantine. Then the stages and their gates run as in
``news_ingest``, the load replaces the day, and ``reporting.reprocess_changes`` records, per document, the
outcome, body, date or story that moved, with the pipeline versions before and after.
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
from khabar.warehouse import apply_migrations, copy_records, day_lock, transaction

REPROCESS_STAGES = ("strip", "normalize", "date_tag", "dedup")
CHANGES = ("outcome", "body", "date", "story")
# The day's rows a rebuild replaces (the stages re-run replace the rest of theirs).
STAGING_TABLES = ("stripped_lines", "outlet_lines", "date_mentions", "date_coverage", "calendar", "quarantine", "documents", "files")
# Re-processing never reads the landing zone: a Run needs a root, and this one does not exist.
NO_LANDING = Path("/nonexistent/landing-zone-not-read-by-reprocessing")


class ReprocessError(RuntimeError):
    """A day cannot be rebuilt from the warehouse alone."""


# What each stage reads of the stages before it. Re-running a stage re-runs every later stage that reads
# its output (dedup orders documents by date, so a date rule change can change which copy is the original).
READS = {"normalize": {"strip"}, "date_tag": {"strip", "normalize"}, "dedup": {"strip", "normalize", "date_tag"}}


def check_stages(stages: Sequence[str] | None) -> tuple[str, ...]:
    """The stages to re-run, in pipeline order: those chosen (all when none are) and every later stage
    that reads what one of them writes. The stages before the first of them are not re-run: their stored
    output is what the first one reads.

    >>> check_stages(["dedup"]), check_stages(["date_tag"]), check_stages(["normalize", "dedup"])
    (('dedup',), ('date_tag', 'dedup'), ('normalize', 'date_tag', 'dedup'))
    """
    chosen = set(REPROCESS_STAGES if not stages else stages)
    unknown = sorted(chosen - set(REPROCESS_STAGES))
    if unknown:
        raise ValueError(f"unknown stages {unknown}; choose from {list(REPROCESS_STAGES)}")
    for stage in REPROCESS_STAGES:  # in order, so that the closure is complete in one pass
        if READS.get(stage, set()) & chosen:
            chosen.add(stage)
    return tuple(stage for stage in REPROCESS_STAGES if stage in chosen)


def strip_title(raw_title: str | None, file_format: str, meta: dict, title_line: str | None) -> str | None:
    """The title strip gave a document (``Stripper.strip_document``), from what stays after it: the title
    as read, else a page's ``<title>`` (strip puts the page's metadata into ``meta``), stripped; with
    neither, the line strip removed with rule ``title`` (or none).

    >>> strip_title(" خبر ", "txt", {}, None), strip_title(None, "html", {"title": "صفحه"}, "x"), strip_title(None, "txt", {}, "سطر")
    ('خبر', 'صفحه', 'سطر')
    """
    title = raw_title
    if file_format == "html":
        title = title or meta.get("title")
    return title.strip() if title else title_line


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


def rebuild_staging(dsn: str, run: Run, reprocess_id: str, first: str = REPROCESS_STAGES[0]) -> dict:
    """Replace the day's staging rows with the documents and files the warehouse holds, and the outputs
    of the stages before ``first`` (one transaction), after keeping the day's current state for the
    change report."""
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
        for table in STAGING_TABLES:
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
        # the day's staging is whole again (khabar.pipeline.check_staging)
        cur.execute("insert into staging.ingest_marks (run_id) values (%s) on conflict do nothing", (run.run_id,))
        restore_stage_outputs(cur, run, first)
    return {"files": len(files), "documents": len(docs), "ingest_quarantined": ingest_quarantined, "first_stage": first}


# ------------------------------------------------------------------------------ stage outputs


# Each row is kept as the JSON of its columns minus those named here: the JSON is built from the other columns
# alone (a row's JSON made whole and then trimmed converted raw_text and strip's drafts only to drop them). Without
# strip's drafts: only strip's finish reads them, and a kept strip is never finished again. A document's texts are
# columns of their own (migration 021): copied as staging compressed them, not decompressed into the JSON and
# compressed again with it, and an article's body not at all (reporting.articles holds it).
_KEEP_WITHOUT = {
    "documents": ("run_id", "raw_text", "strip_draft", "strip_draft_line_nos", "stripped_text", "body"),
    "stripped_lines": ("run_id",),
    "date_mentions": ("run_id",),
}

# An article's stripped lines and date mentions are the rows reporting.stripped_lines and date_mentions hold
# for it (the load has just copied them from the same staging rows): only the other documents' are kept here.
_KEEP_SQL = """
delete from reporting.stage_outputs where run_id = %(run_id)s;
insert into reporting.stage_outputs (run_id, kind, doc_id, row, stripped_title, stripped_text, body, article)
select %(run_id)s, 'document', s.doc_id, to_jsonb(d), t.title, s.stripped_text,
       case when s.status <> 'active' then s.body end, s.status = 'active'
  from staging.documents s
 cross join lateral (select {documents}) d
  left join _khabar_kept_titles t on t.doc_id = s.doc_id
 where s.run_id = %(run_id)s;
insert into reporting.stage_outputs (run_id, kind, doc_id, row)
select %(run_id)s, 'stripped_line', s.doc_id, to_jsonb(s)
  from (select {stripped_lines} from staging.stripped_lines s where s.run_id = %(run_id)s
           and not exists (select 1 from staging.documents a where a.run_id = s.run_id and a.doc_id = s.doc_id
                                                                and a.status = 'active')) s;
insert into reporting.stage_outputs (run_id, kind, doc_id, row)
select %(run_id)s, 'date_mention', m.doc_id, to_jsonb(m)
  from (select {date_mentions} from staging.date_mentions m where m.run_id = %(run_id)s
           and not exists (select 1 from staging.documents a where a.run_id = m.run_id and a.doc_id = m.doc_id
                                                                and a.status = 'active')) m;
"""


def _kept_columns(cur, table: str, alias: str = "") -> str:
    """The columns of ``staging.<table>`` a kept row holds, in table order, as a select list (of ``alias``'s)."""
    cur.execute(
        "select string_agg(%s || quote_ident(attname), ', ' order by attnum) from pg_attribute"
        " where attrelid = %s::regclass and attnum > 0 and not attisdropped and attname <> all(%s)",
        (f"{alias}." if alias else "", f"staging.{table}", list(_KEEP_WITHOUT[table])),
    )
    return cur.fetchone()[0]


def keep_stage_outputs(cur, run_id: str) -> int:
    """Keep the day's documents as the chain left them, with strip's title and their stripped lines and
    date mentions, so that a later re-processing can start at any stage (``khabar.pipeline.load`` calls
    this inside its transaction, after the load's own statements: an article's body, lines and mentions are
    read back from the warehouse). Returns the number of documents kept. Strip's titles are computed first and
    go in with the rows (an update afterwards rewrote every kept row: as long as writing them)."""
    cur.execute(
        # of the metadata, only a page's title (strip_title reads no other key): not every document's whole JSON
        "select d.doc_id, d.raw_title, d.file_format, case when d.file_format = 'html' then d.meta -> 'title' end, t.line"
        " from staging.documents d"
        " left join lateral (select s.line from staging.stripped_lines s where s.run_id = d.run_id"
        " and s.doc_id = d.doc_id and s.rule = 'title' order by s.line_no limit 1) t on true"
        " where d.run_id = %s",
        (run_id,),
    )
    titles = [(doc_id, strip_title(raw, fmt, {"title": meta_title}, line)) for doc_id, raw, fmt, meta_title, line in cur.fetchall()]
    cur.execute("create temporary table if not exists _khabar_kept_titles (doc_id text, title text) on commit drop")
    cur.execute("truncate _khabar_kept_titles")
    copy_records(cur, "_khabar_kept_titles", ("doc_id", "title"), titles)
    cur.execute("analyze _khabar_kept_titles")
    columns = {table: _kept_columns(cur, table, "s" if table == "documents" else "") for table in _KEEP_WITHOUT}
    cur.execute(_KEEP_SQL.format(**columns), {"run_id": run_id})
    return len(titles)


# Rows kept before migration 021 (article is null) hold the whole row, texts included, in their JSON, and
# every document's lines and mentions as rows of their own; later ones hold the texts in columns, and an
# article's body, lines and mentions are the warehouse's.
_RESTORE_SQL = """
create temporary table rebuilt on commit drop as
    select doc_id, raw_text from staging.documents where run_id = %(run_id)s;
delete from staging.documents where run_id = %(run_id)s;
-- each document as the kept stages left it; a document a re-run stage quarantined (or made a duplicate)
-- is active again, since that stage decides anew
insert into staging.documents
select (jsonb_populate_record(null::staging.documents,
            o.row || jsonb_build_object('run_id', %(run_id)s, 'raw_text', r.raw_text,
                                        'status', case when q.stage is null then 'active' else 'quarantined' end)
                  || case when o.article is null then '{}'::jsonb
                          else jsonb_build_object('stripped_text', o.stripped_text,
                                                  'body', case when o.article then a.body else o.body end) end
                  || case when %(retitle)s then jsonb_build_object('title', o.stripped_title) else '{}'::jsonb end)).*
  from rebuilt r
  join reporting.stage_outputs o on o.run_id = %(run_id)s and o.kind = 'document' and o.doc_id = r.doc_id
  left join reporting.articles a on o.article and a.article_id = o.doc_id
  left join reporting.quarantine q on q.run_id = %(run_id)s and q.source_path = o.row->>'source_path'
                                  and q.record_index = (o.row->>'record_index')::integer and q.stage = any(%(kept)s);
insert into staging.quarantine (run_id, source_path, record_index, stage, reason, sha256, size_bytes, evidence_path, raw_record)
select run_id, source_path, record_index, stage, reason, sha256, size_bytes, evidence_path, raw_record
  from reporting.quarantine where run_id = %(run_id)s and stage = any(%(kept)s);
"""

_RESTORE_STRIP_SQL = """
insert into staging.stripped_lines
select (jsonb_populate_record(null::staging.stripped_lines, row || jsonb_build_object('run_id', run_id))).*
  from reporting.stage_outputs where run_id = %(run_id)s and kind = 'stripped_line';
insert into staging.stripped_lines (run_id, doc_id, line_no, line, rule)
select o.run_id, s.article_id, s.line_no, s.line, s.rule
  from reporting.stage_outputs o join reporting.stripped_lines s on s.article_id = o.doc_id
 where o.run_id = %(run_id)s and o.kind = 'document' and o.article;
insert into staging.outlet_lines (run_id, outlet, line_key, line, documents)
select run_id, outlet, line_key, line, documents from reporting.outlet_lines where run_id = %(run_id)s;
"""

_RESTORE_DATES_SQL = """
insert into staging.date_mentions
select (jsonb_populate_record(null::staging.date_mentions, row || jsonb_build_object('run_id', run_id))).*
  from reporting.stage_outputs where run_id = %(run_id)s and kind = 'date_mention';
insert into staging.date_mentions (run_id, doc_id, start_char, end_char, surface, resolved_day, resolved_jalali,
                                   calendar, kind, weekday_ok, confidence)
select o.run_id, m.article_id, m.start_char, m.end_char, m.surface, m.resolved_day, m.resolved_jalali,
       m.calendar, m.kind, m.weekday_ok, m.confidence
  from reporting.stage_outputs o join reporting.date_mentions m on m.article_id = o.doc_id
 where o.run_id = %(run_id)s and o.kind = 'document' and o.article;
insert into staging.date_coverage select * from reporting.date_coverage where run_id = %(run_id)s;
"""


def restore_stage_outputs(cur, run: Run, first: str) -> None:
    """Put back the outputs of the stages before ``first`` over the day's rebuilt documents."""
    kept = list(REPROCESS_STAGES[: REPROCESS_STAGES.index(first)])
    if not kept:
        return
    params = {"run_id": run.run_id, "kept": kept, "retitle": "normalize" not in kept}
    cur.execute("select count(*) from staging.documents where run_id = %s", (run.run_id,))
    (rebuilt,) = cur.fetchone()
    cur.execute(_RESTORE_SQL, params)
    cur.execute("select count(*) from staging.documents where run_id = %s", (run.run_id,))
    (restored,) = cur.fetchone()
    if restored != rebuilt:
        raise ReprocessError(
            f"day {run.run_id}: {rebuilt - restored} of {rebuilt} documents have no stored stage outputs (loaded"
            f" before migration 012?); re-process the day from strip (all stages) once before choosing {first}"
        )
    cur.execute(_RESTORE_STRIP_SQL, params)
    if "date_tag" in kept:
        cur.execute(_RESTORE_DATES_SQL, params)


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
    out: dict = {"day": run.run_id, "stages": list(chosen)}
    with day_lock(dsn, run.run_id):
        out["rebuilt"] = rebuild_staging(dsn, run, reprocess_id, chosen[0])
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
