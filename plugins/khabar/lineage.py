"""Which warehouse tables each step reads and writes, named as OpenLineage datasets.

The DAGs hand these to Airflow's OpenLineage provider (as task inlets and outlets) when a transport
is configured; this module only knows the tables and OpenLineage's naming for PostgreSQL: namespace
``postgres://host:port``, name ``database.schema.table``.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

_STAGED = ("staging.files", "staging.documents", "staging.quarantine")
_DEDUP_STATE = ("staging.lsh_bands", "staging.dedup_shingles", "staging.dedup_decisions", "staging.story_merges")
_LOADED = (
    "reporting.articles", "reporting.stories", "reporting.story_merges", "reporting.duplicates", "reporting.quarantine",
    "reporting.files", "reporting.stripped_lines", "reporting.outlet_lines", "reporting.date_mentions",
    "reporting.calendar", "reporting.date_coverage", "reporting.lsh_bands", "reporting.lsh_article_bands", "reporting.dedup_shingles",
    "reporting.dedup_decisions", "reporting.runs", "reporting.stage_outputs",
)
REPORTING_VIEWS = (
    "reporting.daily_volume", "reporting.story_spread", "reporting.duplicate_rate", "reporting.run_quality",
    "reporting.quarantine_reasons", "reporting.gate_history", "reporting.gate_latest",
)

# step -> (tables read, tables written). Gates read what their stage wrote and write gate_results.
STEP_TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ingest": ((), _STAGED),
    "strip": (("staging.documents", "reporting.outlet_lines"), ("staging.documents", "staging.stripped_lines", "staging.outlet_lines")),
    "normalize": (("staging.documents",), ("staging.documents",)),
    "date_tag": (
        ("staging.documents",),
        ("staging.documents", "staging.date_mentions", "staging.calendar", "staging.date_coverage"),
    ),
    "dedup": (("staging.documents", "reporting.lsh_bands", "reporting.dedup_shingles", "reporting.articles"), ("staging.documents", *_DEDUP_STATE)),
    "load": ((*_STAGED, "staging.stripped_lines", "staging.outlet_lines", "staging.date_mentions", "staging.calendar",
              "staging.date_coverage", *_DEDUP_STATE), _LOADED),
    "validate_ingest": (("staging.files", "staging.documents", "staging.quarantine"), ("reporting.gate_results",)),
    "validate_strip": (("staging.documents",), ("reporting.gate_results",)),
    "validate_normalize": (("staging.documents",), ("reporting.gate_results",)),
    "validate_date_tag": (("staging.documents", "staging.date_mentions", "staging.date_coverage", "staging.calendar",
                           "reporting.calendar"), ("reporting.gate_results",)),
    "validate_dedup": (("staging.documents", "reporting.articles"), ("reporting.gate_results",)),
    "validate_load": (("reporting.runs", "reporting.files", "reporting.quarantine", "reporting.articles"), ("reporting.gate_results",)),
    "refresh_views": (("reporting.articles", "reporting.stories", "reporting.calendar", "reporting.duplicates",
                       "reporting.runs", "reporting.date_coverage", "reporting.quarantine", "reporting.gate_results"), REPORTING_VIEWS),
    "validate_reporting": ((*REPORTING_VIEWS[:4], "reporting.articles", "reporting.stories", "reporting.duplicates",
                            "reporting.runs"), ("reporting.gate_results",)),
}


def dataset_names(dsn: str, tables: tuple[str, ...]) -> list[tuple[str, str]]:
    """OpenLineage (namespace, name) of each table of the warehouse at ``dsn``; no password kept.

    ``dataset_names("postgresql://u:p@db:5432/khabar", ("reporting.articles",))``
    → ``[("postgres://db:5432", "khabar.reporting.articles")]``. A Unix-socket DSN (the embedded
    warehouse) names the socket's host ``localhost``.
    """
    parts = urlsplit(dsn)
    host = parts.hostname or "localhost"
    database = unquote(parts.path.lstrip("/")) or "postgres"
    namespace = f"postgres://{host}:{parts.port or 5432}"
    return [(namespace, f"{database}.{table}") for table in tables]


def step_datasets(dsn: str, step: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The (inputs, outputs) of one step (a stage, a gate task or a reporting task) as dataset names."""
    read, written = STEP_TABLES[step]
    return dataset_names(dsn, read), dataset_names(dsn, written)
