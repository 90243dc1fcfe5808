"""Data-quality gates: a Great Expectations 1.x suite per stage, run against the warehouse
tables the stage wrote for this run. A failed gate raises ``GateFailed``; every result is
stored in ``reporting.gate_results`` where SQL users can read it.

Suites are built by the functions in ``SUITES`` (stage name → builder); a builder returns the
query that selects the run's rows and the expectations those rows must meet.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

from khabar.warehouse import quote_literal, transaction

# The body's lines folded as the lexicon folds a line (khabar.strip.fold_line: Arabic letters, ZWNJ as a
# space, runs of spaces and tabs as one, trimmed). The letters are replaced in the whole body, a replace()
# a character (translate() compares every character with each of its list: twice the CPU at 10k documents);
# the body is split in the select list (a set-returning function in FROM writes every line to a tuplestore
# and reads it back), and the costly regex runs only on a line that has a run to collapse. It matches the runs
# (two or more spaces or tabs, or one tab), not every space: a run of any length still becomes one space (an
# alternation is greedy: the longest run wins), and a paragraph is not rebuilt a match a word. (No braces in
# patterns here: GX formats the query with str.format.)
FOLD_REPLACEMENTS = (("ي", "ی"), ("ك", "ک"), ("ى", "ی"), ("ة", "ه"), ("\u200c", " "), ("ـ", ""), ("\u200f", ""), ("\u200e", ""))


def _folded(column: str) -> str:
    for char, repl in FOLD_REPLACEMENTS:
        column = f"replace({column}, '{char}', '{repl}')"
    return column


_STRIP_LINES = (
    "select doc_id, source_path, btrim(case when strpos(t, '  ') > 0 or strpos(t, E'\\t') > 0"
    " then regexp_replace(t, '[ \\t][ \\t]+|\\t', ' ', 'g') else t end, ' ') as l"
    f" from (select doc_id, source_path, string_to_table({_folded('stripped_text')}, E'\\n') as t from {{batch}} offset 0) lines"
    " offset 0"
)


DATA_DOCS_SITE = "khabar"


class GateFailed(Exception):
    """A gate's expectations were not met; the run must stop here."""


@dataclass(frozen=True)
class GateSpec:
    query: str  # selects the run's rows; %(run_id)s is bound (as a literal) before GX sees it
    expectations: list  # great_expectations.expectations instances


def _ingest(gxe, day: date) -> GateSpec:
    return GateSpec(
        "select f.*,"
        " (select count(*) from staging.documents d where d.run_id = f.run_id and d.file_id = f.file_id) as n_documents,"
        " (select count(*) from staging.quarantine q where q.run_id = f.run_id and q.source_path = f.source_path) as n_quarantined"
        " from staging.files f where f.run_id = %(run_id)s",
        [
            gxe.ExpectColumnValuesToBeInSet(column="status", value_set=["parsed", "quarantined"]),
            gxe.ExpectColumnValuesToBeInSet(column="file_format", value_set=["txt", "html", "json", "jsonl", "unknown"]),
            gxe.ExpectColumnValuesToBeBetween(column="size_bytes", min_value=0),
            gxe.ExpectColumnValuesToBeUnique(column="source_path"),
            gxe.UnexpectedRowsExpectation(
                description="every discovered file became documents or a quarantine row",
                unexpected_rows_query="select source_path from {batch} where n_documents + n_quarantined = 0",
            ),
            gxe.UnexpectedRowsExpectation(
                description="a parsed file has a sha256",
                unexpected_rows_query="select source_path from {batch} where status = 'parsed' and (length(sha256) <> 64 or sha256 !~ '^[0-9a-f]+$')",
            ),
        ],
    )


def _blank(column: str) -> str:
    """SQL: the text is empty or only spaces (``length(btrim(column)) = 0``). A text that is not empty
    and does not start with a space is not blank: left() reads only the start of a long value, where
    btrim() would read, copy and count all of it (bodies and stripped texts, at every gate)."""
    return f"({column} = '' or (left({column}, 1) = ' ' and btrim({column}) = ''))"


def _active(columns: str = "*") -> str:
    return f"select {columns} from staging.documents where run_id = %(run_id)s and status = 'active'"


def _strip(gxe, day: date) -> GateSpec:
    from khabar.strip import FURNITURE_LINE_MAX_WORDS, StripSettings, gate_patterns

    share = StripSettings.from_env().review_loss_share
    # The lexicon's patterns, run per body line after folding as the lexicon does: end markers on
    # any line, whole-line furniture on short lines (as the strip step applies them). Braces are
    # doubled because GX formats the query with str.format.
    def any_of(kinds: tuple[str, ...]) -> str:
        patterns = gate_patterns(kinds)

        def literal(text: str) -> str:
            return quote_literal(text).replace("{", "{{").replace("}", "}}")

        # one alternation is one pass over the line (~ any(array) converts and scans the line once a
        # pattern); not where a pattern's backreferences or leading options would change meaning in one.
        # Plain groups: GX runs the query through SQLAlchemy's text(), which reads "(?:word" as a parameter.
        if any(re.search(r"\\[1-9]|\(\?[a-z]", p) for p in patterns):
            return f"l ~ any(array[{', '.join(literal(p) for p in patterns)}])"
        return f"l ~ {literal('|'.join(f'({p})' for p in patterns))}"

    # words = spaces + 1: a folded line has no run of spaces and no space at either end, so it has fewer than
    # N spaces exactly when its (N + 1)th piece split on ' ' is empty; split_part stops at that piece, where
    # counting the spaces read and copied all of a paragraph
    short = f"split_part(l, ' ', {FURNITURE_LINE_MAX_WORDS + 1}) = ''"
    return GateSpec(
        _active("doc_id, source_path, stripped_text, title, text_loss, needs_review"),
        [
            gxe.ExpectColumnValuesToNotBeNull(column="stripped_text"),
            gxe.ExpectColumnValuesToNotBeNull(column="needs_review"),
            gxe.ExpectColumnValuesToBeBetween(column="text_loss", min_value=0, max_value=1),
            gxe.UnexpectedRowsExpectation(
                description="no body is empty after boilerplate removal",
                unexpected_rows_query=f"select doc_id from {{batch}} where {_blank('stripped_text')}",
            ),
            gxe.UnexpectedRowsExpectation(
                description="no body line matches a lexicon entry (include/furniture.tsv)",
                unexpected_rows_query=(
                    f"select doc_id, source_path, l from ({_STRIP_LINES}) folded"
                    f" where {any_of(('end',))} or ({short} and {any_of(('block', 'line'))})"
                ),
            ),
            gxe.UnexpectedRowsExpectation(
                description=f"an article that lost more than {share:.0%} of its text is flagged for review (not failed)",
                unexpected_rows_query=f"select doc_id from {{batch}} where needs_review <> (text_loss > {share})",
            ),
        ],
    )


# Characters no normalized body may hold: Arabic-only letters (ي ك ى ة), tatweel, control and
# bidi-control characters (C0 but newline, C1, LRM/RLM, embeddings and isolates, BOM), and what a
# lossy decode leaves: U+FFFD and the noncharacters U+FFFE/U+FFFF.
BODY_FORBIDDEN = (
    "[يكىةـ\\u0001-\\u0009\\u000b-\\u001f\\u007f-\\u009f\\u200b\\u200d-\\u200f\\u202a-\\u202e"
    "\\u2066-\\u2069\\ufeff\\ufffd\\ufffe\\uffff]"
)


def _normalize(gxe, day: date) -> GateSpec:
    # Valid UTF-8: a text column of a UTF8 database can only hold valid UTF-8 (PostgreSQL rejects
    # invalid bytes and lone surrogates on insert), so the gate checks that the database is UTF8 and
    # that no body carries the marks of text that was damaged before it arrived (U+FFFD).
    return GateSpec(
        _active("doc_id, source_path, body, raw_text"),
        [
            gxe.ExpectColumnValuesToNotBeNull(column="body"),
            gxe.ExpectColumnValuesToNotBeNull(column="raw_text"),
            gxe.UnexpectedRowsExpectation(
                description="no Arabic-only letters, tatweel, control characters or U+FFFD in bodies",
                unexpected_rows_query=f"select doc_id from {{batch}} where body ~ '{BODY_FORBIDDEN}'",
            ),
            gxe.UnexpectedRowsExpectation(
                description="bodies are stored as UTF-8 (the warehouse's encoding is UTF8)",
                unexpected_rows_query="select doc_id from {batch} where current_setting('server_encoding') <> 'UTF8'",
            ),
        ],
    )


def _date_tag(gxe, day: date) -> GateSpec:
    return GateSpec(
        _active(
            "doc_id, source_path, outlet, body, published_at, published_jalali, date_source, date_reason,"
            " date_confidence, date_calendar"
        ),
        [
            gxe.ExpectColumnValuesToBeInSet(column="date_calendar", value_set=["jalali", "gregorian", "hijri"]),
            gxe.UnexpectedRowsExpectation(
                description="a dated document has a confidence in (0, 1]; an undated one has none",
                unexpected_rows_query=(
                    "select doc_id from {batch} where (published_at is not null"
                    " and (date_confidence is null or date_confidence <= 0 or date_confidence > 1))"
                    " or (published_at is null and date_confidence is not null)"
                ),
            ),
            gxe.UnexpectedRowsExpectation(
                description="date coverage is recorded for every outlet of the run",
                unexpected_rows_query=(
                    "select distinct coalesce(outlet, '(unknown)') from (select * from {batch}) b where not exists"
                    " (select 1 from staging.date_coverage c where c.run_id = %(run_id)s"
                    " and c.outlet = coalesce(b.outlet, '(unknown)'))"
                ),
            ),
            # GX leaves the alias of {batch} to the query when the query has a join, and adds one otherwise.
            # A span inside its body is a substring as long as its surface (end_char <= length(body) follows):
            # substr() then decompresses the body only up to the span, where length() decompressed and
            # counted all of it, once a mention. A span that ends before it starts is a bad row too.
            gxe.UnexpectedRowsExpectation(
                description="every date mention is a span of its body with the surface text it names",
                unexpected_rows_query=(
                    "select m.doc_id, m.start_char from {batch} b join staging.date_mentions m on m.doc_id = b.doc_id"
                    " where m.run_id = %(run_id)s and (m.start_char < 0 or m.end_char < m.start_char"
                    " or char_length(m.surface) <> m.end_char - m.start_char"
                    " or substr(b.body, m.start_char + 1, m.end_char - m.start_char) <> m.surface)"
                ),
            ),
            gxe.UnexpectedRowsExpectation(
                description="every published day is in the calendar (warehouse rows or the run's staged rows)",
                unexpected_rows_query=(
                    "select doc_id from (select * from {batch}) b where published_at is not null and not exists"
                    " (select 1 from reporting.calendar c where c.day = (b.published_at at time zone 'Asia/Tehran')::date)"
                    " and not exists (select 1 from staging.calendar s where s.run_id = %(run_id)s"
                    " and s.day = (b.published_at at time zone 'Asia/Tehran')::date)"
                ),
            ),
            gxe.ExpectColumnValuesToBeInSet(
                column="date_source", value_set=["html_meta", "dateline", "link", "record_field", "none"]
            ),
            gxe.ExpectColumnValuesToMatchRegex(column="published_jalali", regex="^1[2-4][0-9]{2}-[01][0-9]-[0-3][0-9]$"),
            gxe.UnexpectedRowsExpectation(
                description="published_at is inside the plausible window and not after the run's day",
                unexpected_rows_query=(
                    "select doc_id from {batch} where published_at < timestamptz '1990-01-01 00:00+03:30'"
                    f" or published_at >= (date '{day.isoformat()}' + 1)::timestamp at time zone 'Asia/Tehran'"
                ),
            ),
            gxe.UnexpectedRowsExpectation(
                description="a missing date has its reason",
                unexpected_rows_query="select doc_id from {batch} where published_at is null and date_reason is null",
            ),
        ],
    )


def _dedup(gxe, day: date) -> GateSpec:
    return GateSpec(
        "select doc_id, status, body_hash, story_id, duplicate_of from staging.documents"
        " where run_id = %(run_id)s and status in ('active', 'duplicate')",
        [
            gxe.ExpectColumnValuesToNotBeNull(column="body_hash"),
            gxe.ExpectColumnValuesToMatchRegex(column="body_hash", regex="^[0-9a-f]{64}$"),
            gxe.UnexpectedRowsExpectation(
                description="every article has a story; every duplicate names its original",
                unexpected_rows_query=(
                    "select doc_id from {batch} where (status = 'active' and story_id is null)"
                    " or (status = 'duplicate' and duplicate_of is null)"
                ),
            ),
            gxe.UnexpectedRowsExpectation(
                description="body hashes are unique among the run's articles",
                unexpected_rows_query=(
                    "select body_hash from {batch} where status = 'active' group by body_hash having count(*) > 1"
                ),
            ),
            gxe.UnexpectedRowsExpectation(
                description="no article of the run repeats the body hash of another day's article",
                unexpected_rows_query=(
                    "select doc_id from {batch} where status = 'active' and body_hash in"
                    " (select body_hash from reporting.articles where run_id <> %(run_id)s)"
                ),
            ),
        ],
    )


def _load(gxe, day: date) -> GateSpec:
    in_run = "a.run_id in (select run_id from {batch})"
    return GateSpec(
        "select * from reporting.runs where run_id = %(run_id)s",
        [
            gxe.ExpectTableRowCountToEqual(value=1),
            gxe.UnexpectedRowsExpectation(
                description="conservation: documents in = articles + duplicates + quarantined",
                unexpected_rows_query=(
                    "select run_id from {batch} where documents_seen <> articles_loaded + duplicates + quarantined"
                ),
            ),
            gxe.UnexpectedRowsExpectation(
                description="conservation of files: discovered = loaded + quarantined + exact duplicates",
                unexpected_rows_query=(
                    "select run_id from {batch} where files_loaded is null or files_discovered"
                    " <> files_loaded + files_quarantined + files_duplicate"
                ),
            ),
            gxe.UnexpectedRowsExpectation(
                description="every discovered file has an outcome (none lost)",
                unexpected_rows_query=(
                    "select f.source_path from reporting.files f where f.run_id in (select run_id from {batch})"
                    " and f.outcome is null"
                ),
            ),
            gxe.UnexpectedRowsExpectation(
                description="every quarantined file keeps its evidence (sha256 and a copy, or the reason it was not read)",
                unexpected_rows_query=(
                    "select q.source_path from reporting.quarantine q where q.run_id in (select run_id from {batch})"
                    " and q.stage = 'ingest' and q.sha256 is not null and q.evidence_path is null"
                ),
            ),
            gxe.UnexpectedRowsExpectation(
                description="every article has a story and a non-empty body",
                unexpected_rows_query=(
                    f"select a.article_id from reporting.articles a where {in_run}"
                    f" and (a.story_id is null or {_blank('a.body')})"
                ),
            ),
            gxe.UnexpectedRowsExpectation(
                description="exactly one canonical article per story",
                unexpected_rows_query=(
                    "select s.story_id from reporting.articles s where s.story_id in"
                    f" (select a.story_id from reporting.articles a where {in_run})"
                    " group by s.story_id having count(*) filter (where s.is_canonical) <> 1"
                ),
            ),
            gxe.UnexpectedRowsExpectation(
                description="no exact-hash collision between different bodies",
                unexpected_rows_query=(
                    "select s.body_hash from reporting.articles s where s.body_hash in"
                    f" (select a.body_hash from reporting.articles a where {in_run})"
                    " group by s.body_hash having count(distinct s.body) > 1"
                ),
            ),
        ],
    )


def _reporting(gxe, day: date) -> GateSpec:
    # The reporting views (khabar.reporting) against the tables they summarise: a view that lost or
    # double-counted rows (a calendar gap, a join fanning out) fails here, after the refresh.
    def mismatch(view_total: str, table_total: str) -> str:
        return f"select v, t from (select ({view_total}) as v, ({table_total}) as t) x where v is distinct from t"

    return GateSpec(
        "select * from reporting.daily_volume",
        [
            gxe.ExpectColumnValuesToNotBeNull(column="jalali_year"),
            gxe.ExpectColumnValuesToNotBeNull(column="jalali_month_name"),
            gxe.ExpectColumnValuesToBeBetween(column="articles", min_value=1),
            gxe.UnexpectedRowsExpectation(
                description="daily_volume counts every dated article once",
                unexpected_rows_query=mismatch(
                    "select coalesce(sum(articles), 0) from {batch}",
                    "select count(*) from reporting.articles where published_at is not null",
                ),
            ),
            gxe.UnexpectedRowsExpectation(
                description="story_spread has every story once, with all their articles",
                unexpected_rows_query=mismatch(
                    "select count(*) || '/' || coalesce(sum(article_count), 0) from reporting.story_spread",
                    "select (select count(*) from reporting.stories) || '/' || (select count(*) from reporting.articles)",
                ),
            ),
            gxe.UnexpectedRowsExpectation(
                description="duplicate_rate covers every article and exact copy; rates in [0, 1]",
                unexpected_rows_query=(
                    mismatch(
                        "select coalesce(sum(documents), 0) from reporting.duplicate_rate",
                        "select (select count(*) from reporting.articles) + (select count(*) from reporting.duplicates d"
                        " join reporting.articles a on a.article_id = d.duplicate_of)",
                    )
                    + " union all select duplicate_rate, 0 from reporting.duplicate_rate where duplicate_rate not between 0 and 1"
                ),
            ),
            gxe.UnexpectedRowsExpectation(
                description="run_quality has one row per loaded run; date coverage in [0, 1]",
                unexpected_rows_query=(
                    mismatch("select count(*) from reporting.run_quality", "select count(*) from reporting.runs")
                    + " union all select date_coverage, 0 from reporting.run_quality where date_coverage not between 0 and 1"
                ),
            ),
        ],
    )


SUITES: dict[str, Callable[[object, date], GateSpec]] = {
    "ingest": _ingest,
    "strip": _strip,
    "normalize": _normalize,
    "date_tag": _date_tag,
    "dedup": _dedup,
    "load": _load,
    "reporting": _reporting,
}


def _sqlalchemy_url(dsn: str) -> str:
    for scheme in ("postgresql://", "postgres://"):
        if dsn.startswith(scheme):
            return "postgresql+psycopg2://" + dsn[len(scheme):]
    return dsn


def _exception(r) -> str | None:
    info = r.exception_info or {}
    if "exception_message" in info:
        return info.get("exception_message")
    messages = [v.get("exception_message") for v in info.values() if isinstance(v, dict) and v.get("raised_exception")]
    return "; ".join(m for m in messages if m) or None


def _compact(result) -> list[dict]:
    """What an operator needs from each expectation, without row dumps of whole bodies."""
    out = []
    for r in result.results:
        cfg = r.expectation_config
        res = r.result or {}
        observed = res.get("observed_value")
        out.append(
            {
                "expectation": cfg.type,
                "column": cfg.kwargs.get("column"),
                "description": cfg.description,
                "success": bool(r.success),
                "unexpected_count": res.get("unexpected_count"),
                "observed": observed if isinstance(observed, (int, float, str, type(None))) else str(observed)[:500],
                "sample": [str(v)[:200] for v in (res.get("partial_unexpected_list") or [])[:SAMPLE_ROWS]]
                or [json.dumps(row, ensure_ascii=False)[:200] for row in (res.get("details") or {}).get("unexpected_rows") or []],
                "exception": _exception(r) if not r.success else None,
            }
        )
    return out


def data_docs_dir() -> Path | None:
    """Where the Data Docs site is written (``index.html`` at its top): env ``NEWS_DATA_DOCS_DIR``,
    else ``.gx/data_docs/`` under the project; ``off`` turns the site off."""
    from khabar.paths import PROJECT_ROOT

    value = os.environ.get("NEWS_DATA_DOCS_DIR", "").strip()
    if value.lower() == "off":
        return None
    return Path(value) if value else PROJECT_ROOT / ".gx" / "data_docs"


def _index_limit() -> int:
    """How many of the newest results the Data Docs index lists: env ``NEWS_DATA_DOCS_INDEX_LIMIT``."""
    return int(os.environ.get("NEWS_DATA_DOCS_INDEX_LIMIT") or 60)


def _context(docs: Path | None):
    """An ephemeral GX context (nothing of the warehouse connection is written to disk) whose
    validation results, when a docs folder is set, are kept as JSON under ``<docs>/_results`` and
    rendered to a local Data Docs site in ``<docs>``; the site's index lists every stored result."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        progress_bars=ProgressBarsConfig(globally=False),
    )
    if docs is not None:
        def files(base: Path) -> dict:
            return {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(base)}

        config.stores["validation_results_store"] = {"class_name": "ValidationResultsStore", "store_backend": files(docs / "_results")}
        config.data_docs_sites = {
            DATA_DOCS_SITE: {
                # GX's, with static assets copied once and an index that reads what it shows (khabar.gx_views)
                "module_name": "khabar.gx_views", "class_name": "SiteBuilder",
                "store_backend": files(docs),
                # the index is rebuilt on every gate from the newest results only: its cost stays flat
                # as the history grows (older pages stay on disk, unlisted)
                "site_index_builder": {
                    "module_name": "khabar.gx_views", "class_name": "SiteIndexBuilder",
                    "validation_results_limit": _index_limit(),
                    "view": {"module_name": "khabar.gx_views", "class_name": "CachedIndexPageView"},
                },
                # GX's page views with their compiled templates kept between gates (khabar.gx_views)
                "site_section_builders": {
                    section: {"view": {"module_name": "khabar.gx_views", "class_name": "CachedPageView"}}
                    for section in ("expectations", "validations", "profiling")
                },
            }
        }
    context = gx.get_context(mode="ephemeral", project_config=config)
    # An ephemeral context keeps its configuration in memory only, yet GX dumps all of it to YAML, into an
    # in-memory store that nothing reads, each time a datasource or asset is added (11 ms of every gate).
    context._save_project_config = lambda: None
    return context


# GX fetches a check's rows with no limit, so the planner costs the strip gate's line check (a row a line
# of every body) past jit_inline_above_cost and compiles it: 0.2 s at 10k documents, for expressions that
# are calls of text functions, which compiled code runs no faster.
NO_JIT = "-c jit=off"
UNEXPECTED_TOTAL = "unexpected_total"
SAMPLE_ROWS = 5


@cache
def _one_scan_class():
    """``UnexpectedRowsExpectation`` as GX runs it scans its query twice (the rows, then ``count(*)``):
    the costliest checks (every body line against the lexicon) would run twice. This subclass reads
    only the rows, from the query wrapped in ``count(*) over ()``, so one scan gives the first rows and
    the exact number of them; a result keeps the count and a few sample rows for the operator."""
    import great_expectations.expectations as gxe

    class KhabarUnexpectedRows(gxe.UnexpectedRowsExpectation):
        metric_dependencies = ("unexpected_rows_query.table",)

        def _validate(self, metrics: dict, runtime_configuration: dict | None = None, execution_engine=None) -> dict:
            rows = metrics["unexpected_rows_query.table"]
            total = int(rows[0][UNEXPECTED_TOTAL]) if rows else 0
            sample = [{k: str(v)[:200] for k, v in row.items() if k != UNEXPECTED_TOTAL} for row in rows[:SAMPLE_ROWS]]
            return {"success": total == 0, "result": {"observed_value": total, "details": {"unexpected_rows": sample}}}

    return KhabarUnexpectedRows


def _one_scan(expectation, run_id: str):
    """The one-scan form of an ``UnexpectedRowsExpectation`` (run id bound as a literal)."""
    query = expectation.unexpected_rows_query.replace("%(run_id)s", quote_literal(run_id))
    return _one_scan_class()(
        description=expectation.description,
        unexpected_rows_query=f"select count(*) over () as {UNEXPECTED_TOTAL}, unexpected.* from ({query}) unexpected",
    )


def _reflect_without_rows(engine, query: str) -> None:
    """GX learns a query asset's columns (for its column expectations) by running the asset's query as it
    is and reading the result's column names: every row of the run, bodies and raw texts included, is
    sent to this process and dropped. On this engine that one statement, the query verbatim (GX's metric
    queries all wrap it), runs with ``limit 0``: the same columns, no rows."""
    from sqlalchemy import event

    bare = query.strip()

    def before_cursor_execute(conn, cursor, statement, parameters, context, executemany):
        if statement.strip() == bare:
            statement = f"select * from ({bare}) reflected limit 0"
        return statement, parameters

    event.listen(engine, "before_cursor_execute", before_cursor_execute, retval=True)


def validate_stage(dsn: str, stage: str, run_id: str, day: date, airflow_run_id: str | None = None) -> dict:
    """Run the stage's suite on the run's rows, store the result, raise ``GateFailed`` on failure.
    The result is also rendered to the Data Docs site (``data_docs_dir()``), page
    ``validations/news_<stage>/<run_id>/<time>/warehouse-<stage>_rows.html``."""
    import logging
    import sys

    # where the worker preloaded it (khabar.worker_preload) this process has it already; else this is
    # the first gate of the process and pays its import (seconds)
    logging.getLogger(__name__).info(
        "Great Expectations %s", "preloaded" if "great_expectations" in sys.modules else "imported by this gate"
    )
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.core.run_identifier import RunIdentifier

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    spec = SUITES[stage](gxe, day)
    query = spec.query % {"run_id": quote_literal(run_id)}
    docs = data_docs_dir()
    context = _context(docs)
    source = context.data_sources.add_sql(
        name="warehouse", connection_string=_sqlalchemy_url(dsn), kwargs={"connect_args": {"options": NO_JIT}}
    )
    try:
        _reflect_without_rows(source.get_execution_engine().engine, query)
        asset = source.add_query_asset(name=f"{stage}_rows", query=query)
        batch_definition = asset.add_batch_definition_whole_table("run")
        suite = gx.ExpectationSuite(name=f"news_{stage}")
        for expectation in spec.expectations:
            if isinstance(expectation, gxe.UnexpectedRowsExpectation):
                expectation = _one_scan(expectation, run_id)
            suite.add_expectation(expectation)
        suite = context.suites.add(suite)
        definition = context.validation_definitions.add(gx.ValidationDefinition(name=f"news_{stage}", data=batch_definition, suite=suite))
        actions = [gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=[DATA_DOCS_SITE])] if docs else []
        checkpoint = context.checkpoints.add(gx.Checkpoint(name=f"news_{stage}", validation_definitions=[definition], actions=actions))
        # run_time: when it was checked (GX would read one from a run name that looks like a date,
        # and a re-check of the day would overwrite the first page)
        outcome = checkpoint.run(run_id=RunIdentifier(run_name=run_id, run_time=datetime.now(UTC)))
        (result,) = outcome.run_results.values()
    finally:
        # GX keeps two SQLAlchemy pools open (the datasource's and its execution engine's): in one
        # process running many gates (run_day, the soak, `khabar.cli reprocess`) the idle
        # connections would pile up towards max_connections.
        source.get_engine().dispose()
        source.get_execution_engine().engine.dispose()
    stats = result.statistics
    summary = {
        "stage": stage,
        "success": bool(result.success),
        "evaluated": int(stats["evaluated_expectations"]),
        "failed": int(stats["unsuccessful_expectations"]),
        "results": _compact(result),
    }
    with transaction(dsn) as cur:
        cur.execute(
            "insert into reporting.gate_results (run_id, airflow_run_id, stage, success, expectations_evaluated,"
            " expectations_failed, details) values (%s, %s, %s, %s, %s, %s, %s)",
            (run_id, airflow_run_id, stage, summary["success"], summary["evaluated"], summary["failed"],
             json.dumps(summary["results"], ensure_ascii=False)),
        )
    if not summary["success"]:
        failed = [r["description"] or f"{r['expectation']}({r['column']})" for r in summary["results"] if not r["success"]]
        raise GateFailed(f"gate '{stage}' failed for run {run_id}: " + "; ".join(failed))
    return {k: summary[k] for k in ("stage", "success", "evaluated", "failed")}
