"""Data-quality gates: a Great Expectations 1.x suite per stage, run against the warehouse
tables the stage wrote for this run. A failed gate raises ``GateFailed``; every result is
stored in ``reporting.gate_results`` where SQL users can read it.

Suites are built by the functions in ``SUITES`` (stage name → builder); a builder returns the
query that selects the run's rows and the expectations those rows must meet.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from khabar.warehouse import quote_literal, transaction

FURNITURE_RE = "(پربیننده ترین خبرها|ارسال نظرات|انتهای پیام|مشاهده در مرجع)"
# Folds the body as the lexicon does (Arabic letters, ZWNJ and spaces) before looking for furniture.
_FOLDED = "regexp_replace(translate({col}, 'يكى‌', 'یکی '), '\\s+', ' ', 'g')"


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


def _active(columns: str = "*") -> str:
    return f"select {columns} from staging.documents where run_id = %(run_id)s and status = 'active'"


def _strip(gxe, day: date) -> GateSpec:
    return GateSpec(
        _active("doc_id, source_path, stripped_text, title"),
        [
            gxe.ExpectColumnValuesToNotBeNull(column="stripped_text"),
            gxe.UnexpectedRowsExpectation(
                description="no body is empty after boilerplate removal",
                unexpected_rows_query="select doc_id from {batch} where length(btrim(stripped_text)) = 0",
            ),
            gxe.UnexpectedRowsExpectation(
                description="no body contains a furniture string",
                unexpected_rows_query=f"select doc_id, source_path from {{batch}} where {_FOLDED.format(col='stripped_text')} ~ '{FURNITURE_RE}'",
            ),
        ],
    )


def _normalize(gxe, day: date) -> GateSpec:
    return GateSpec(
        _active("doc_id, source_path, body, raw_text"),
        [
            gxe.ExpectColumnValuesToNotBeNull(column="body"),
            gxe.ExpectColumnValuesToNotBeNull(column="raw_text"),
            gxe.UnexpectedRowsExpectation(
                description="no Arabic-only letters, tatweel or control characters in bodies",
                unexpected_rows_query="select doc_id from {batch} where body ~ '[يكىةـ\\u0001-\\u0008\\u000b\\u000c\\u000e-\\u001f]'",
            ),
        ],
    )


def _date_tag(gxe, day: date) -> GateSpec:
    return GateSpec(
        _active("doc_id, source_path, published_at, published_jalali, date_source, date_reason"),
        [
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
                description="every article has a story and a non-empty body",
                unexpected_rows_query=(
                    f"select a.article_id from reporting.articles a where {in_run}"
                    " and (a.story_id is null or length(btrim(a.body)) = 0)"
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


SUITES: dict[str, Callable[[object, date], GateSpec]] = {
    "ingest": _ingest,
    "strip": _strip,
    "normalize": _normalize,
    "date_tag": _date_tag,
    "dedup": _dedup,
    "load": _load,
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
                "sample": [str(v)[:200] for v in (res.get("partial_unexpected_list") or [])[:5]],
                "exception": _exception(r) if not r.success else None,
            }
        )
    return out


def validate_stage(dsn: str, stage: str, run_id: str, day: date, airflow_run_id: str | None = None) -> dict:
    """Run the stage's suite on the run's rows, store the result, raise ``GateFailed`` on failure."""
    import logging

    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    spec = SUITES[stage](gxe, day)
    query = spec.query % {"run_id": quote_literal(run_id)}
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_sql(name="warehouse", connection_string=_sqlalchemy_url(dsn))
    asset = source.add_query_asset(name=f"{stage}_rows", query=query)
    batch = asset.add_batch_definition_whole_table("run").get_batch()
    suite = gx.ExpectationSuite(name=f"news_{stage}")
    for expectation in spec.expectations:
        if isinstance(expectation, gxe.UnexpectedRowsExpectation):
            expectation.unexpected_rows_query = expectation.unexpected_rows_query.replace("%(run_id)s", quote_literal(run_id))
        suite.add_expectation(expectation)
    result = batch.validate(suite)
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
