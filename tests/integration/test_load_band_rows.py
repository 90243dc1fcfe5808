"""The load's band rows (reporting.lsh_bands): ``khabar.dedup_stage.copy_run_bands`` COPYs exactly the rows
that load_run.sql's statement between its "lsh_bands" markers inserts, in band_key order, and declines (writing
nothing) where the statement must do it."""

from __future__ import annotations

import numpy as np
import psycopg2
import pytest

from khabar.dedup_stage import copy_fingerprints, copy_run_bands
from khabar.pipeline import load_sql, split_load_sql
from khabar.warehouse import apply_migrations

pytestmark = pytest.mark.integration

RUN = "2022-01-25"
ROWS = "select article_id, band, band_key from reporting.lsh_bands order by 1, 2, 3"


def _stage(cur, keys: dict[str, list[int]], kept: tuple[str, ...] = ()) -> None:
    """The run's band key arrays staged, and the load's lsh_kept table naming the articles it keeps."""
    cur.execute("delete from staging.lsh_bands where run_id = %s", (RUN,))
    copy_fingerprints(cur, "staging.lsh_bands", "band_keys", RUN, [(d, np.array(v, dtype=np.int64)) for d, v in keys.items()])
    cur.execute("create temporary table lsh_kept (article_id text) on commit drop")
    cur.execute("insert into lsh_kept select unnest(%s::text[])", (list(kept),))


def _both(dsn: str, keys: dict[str, list[int]], kept: tuple[str, ...] = ()) -> tuple[bool, list, list, list]:
    """(whether the COPY wrote them, its rows, their band keys in the order they were written, the statement's rows),
    each in a transaction rolled back."""
    _, statement, _ = split_load_sql(load_sql())
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            _stage(cur, keys, kept)
            copied = copy_run_bands(cur, RUN)
            cur.execute(ROWS)
            rows = cur.fetchall()
            cur.execute("select band_key from reporting.lsh_bands order by ctid")
            written = [k for (k,) in cur.fetchall()]
        conn.rollback()
        with conn.cursor() as cur:
            _stage(cur, keys, kept)
            cur.execute(statement, {"run_id": RUN})
            cur.execute(ROWS)
            inserted = cur.fetchall()
        conn.rollback()
    finally:
        conn.close()
    return copied, rows, written, inserted


@pytest.fixture(scope="module")
def dsn(fresh_db):
    apply_migrations(fresh_db)
    return fresh_db


def test_the_copy_writes_the_statements_rows_in_band_key_order(dsn):
    rng = np.random.default_rng(8)
    keys = {f"{i:016x}": rng.integers(-(2**63), 2**63 - 1, 64).tolist() for i in range(40)}
    keys["000000000000000a"][3] = keys["000000000000000b"][3] = 12345  # a key two articles share in one band
    keys["000000000000000c"] = []  # no keys: no rows
    keys["000000000000000d"] = [-(2**63), 2**63 - 1, 0, 0, 7]  # the extremes, a key twice, fewer than 64 bands
    copied, rows, written, inserted = _both(dsn, keys, kept=("0000000000000005", "not staged"))
    assert copied
    assert rows == inserted
    assert len(rows) == 37 * 64 + 5  # 40 articles: one kept (its rows are not written again), one without keys, one with 5
    assert written == sorted(written)


def test_the_copy_declines_ids_of_different_lengths_and_writes_nothing(dsn):
    copied, rows, _, inserted = _both(dsn, {"short": [1, 2], "a longer id": [3], "دو": [4]})
    assert not copied and rows == []
    assert len(inserted) == 4


def test_nothing_to_copy_when_every_article_is_kept(dsn):
    copied, rows, _, inserted = _both(dsn, {"0000000000000001": [1, 2, 3]}, kept=("0000000000000001",))
    assert copied and rows == inserted == []
