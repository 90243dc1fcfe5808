"""The gates' vacuum refreshes the statistics of the planned columns a stage wrote, and only those
(khabar.pipeline.STAGE_PLANNED_WRITES): a stage that starts writing another planned column must be listed,
or its gate would leave the planner that column's statistics from before the stage."""

from __future__ import annotations

from datetime import date

import pytest

from helpers import query
from khabar.paths import SAMPLE_LANDING_DIR
from khabar.pipeline import PLANNED_COLUMNS, STAGE_FUNCTIONS, STAGE_PLANNED_WRITES, STAGES, Run, run_gate
from khabar.warehouse import apply_migrations

pytestmark = pytest.mark.integration
DAYS = (date(2022, 1, 25), date(2022, 1, 26))  # the second day's dedup meets the first day's articles


def planned_values(dsn: str, run_id: str) -> dict[str, str]:
    """A digest of each planned column over the day's staged documents."""
    digests = ", ".join(
        f"md5(coalesce(string_agg(coalesce({c}::text, '<null>'), ',' order by doc_id), ''))" for c in PLANNED_COLUMNS
    )
    (row,) = query(dsn, f"select {digests} from staging.documents where run_id = %s", (run_id,))
    return dict(zip(PLANNED_COLUMNS, row, strict=True))


def test_no_stage_changes_a_planned_column_its_gate_does_not_analyze(fresh_db, tmp_path):
    import shutil

    apply_migrations(fresh_db)
    stats = "select null_frac from pg_stats where schemaname = 'staging' and tablename = 'documents' and attname = %s"
    changed_by: dict[str, set[str]] = {stage: set() for stage in STAGES if stage != "load"}
    published_null_frac = {}
    for day in DAYS:
        shutil.copytree(SAMPLE_LANDING_DIR / day.isoformat(), tmp_path / "landing" / day.isoformat())
        run = Run(day, tmp_path / "landing", quarantine_dir=tmp_path / "quarantine")
        for stage in STAGES:
            before = planned_values(fresh_db, run.run_id)
            STAGE_FUNCTIONS[stage](fresh_db, run)
            after = planned_values(fresh_db, run.run_id)
            if stage != "load":
                changed_by[stage] |= {c for c in PLANNED_COLUMNS if before[c] != after[c]}
                run_gate(fresh_db, stage, run)
                if day == DAYS[0]:
                    published_null_frac[stage] = query(fresh_db, stats, ("published_at",))[0][0]
    assert changed_by["ingest"] == set(PLANNED_COLUMNS)  # new rows
    assert changed_by["dedup"] >= {"status", "duplicate_of", "story_id", "body_hash"}  # the sample has copies
    for stage, columns in changed_by.items():
        assert columns <= set(STAGE_PLANNED_WRITES[stage]), f"{stage} writes {sorted(columns)}"
    # the date_tag gate gave the planner the day's publication times, where ingest's gate saw only nulls
    assert published_null_frac["normalize"] == 1.0 and published_null_frac["date_tag"] < 0.5
