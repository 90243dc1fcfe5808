"""The normalize gate against a real PostgreSQL: clean bodies pass, each forbidden character fails it."""

from __future__ import annotations

from datetime import date

import psycopg2
import pytest

from helpers import stage_sample_day
from khabar.gates import GateFailed, validate_stage

pytestmark = pytest.mark.integration
DAY = date(2022, 1, 25)
RUN_ID = DAY.isoformat()


@pytest.fixture(scope="module")
def normalized(fresh_db, tmp_path_factory):
    """The sample day ingested, stripped and normalized (the stages before the gate)."""
    return stage_sample_day(fresh_db, tmp_path_factory, DAY, ("ingest", "strip", "normalize"))


def test_normalized_bodies_pass(normalized):
    assert validate_stage(normalized, "normalize", RUN_ID, DAY)


@pytest.mark.parametrize(
    "bad",
    [
        "ي",  # Arabic yeh: normalization maps it to «ی»
        "ة",
        "ـ",  # tatweel
        "\u0007",  # a C0 control character (BEL)
        "\u0085",  # a C1 control character (NEL)
        "\u200f",  # RIGHT-TO-LEFT MARK: bidi controls are dropped by normalization
        "\ufeff",  # a BOM inside the text
        "\ufffd",  # what a lossy decode leaves behind
    ],
)
def test_each_forbidden_character_fails_the_gate(normalized, bad):
    with psycopg2.connect(normalized) as conn, conn.cursor() as cur:
        cur.execute(
            "update staging.documents set body = body || %s where run_id = %s and status = 'active'"
            " and doc_id = (select min(doc_id) from staging.documents where run_id = %s and status = 'active')",
            (f" {bad}x", RUN_ID, RUN_ID),
        )
    try:
        with pytest.raises(GateFailed, match="control characters or U\\+FFFD"):
            validate_stage(normalized, "normalize", RUN_ID, DAY)
    finally:
        with psycopg2.connect(normalized) as conn, conn.cursor() as cur:
            cur.execute(
                "update staging.documents set body = left(body, length(body) - 3) where run_id = %s and body like %s",
                (RUN_ID, f"% {bad}x"),
            )
    assert validate_stage(normalized, "normalize", RUN_ID, DAY)
