"""Band keys handled in this process rather than in SQL, with the same result: the load's band rows
(reporting.lsh_bands), which ``khabar.dedup_stage.copy_run_bands`` COPYs exactly as load_run.sql's statement
between its "lsh_bands" markers inserts them, in band_key order, declining (writing nothing) where the statement
must do it; and dedup's candidate pairs inside a run (``run_band_pairs``), exactly ``RUN_PAIRS``'s rows."""

from __future__ import annotations

import numpy as np
import psycopg2
import pytest

from khabar.dedup_stage import _sql_pairs, copy_fingerprints, copy_run_bands, encode_fingerprints, run_band_pairs
from khabar.pipeline import load_sql, split_load_sql
from khabar.warehouse import apply_migrations

pytestmark = pytest.mark.integration

RUN = "2022-01-25"
ROWS = "select article_id, band, band_key from reporting.lsh_bands order by 1, 2, 3"


def _stage(cur, keys: dict[str, list[int]], kept: tuple[str, ...] = ()) -> None:
    """The run's band key arrays staged, and the load's lsh_kept table naming the articles it keeps."""
    cur.execute("delete from staging.lsh_bands where run_id = %s", (RUN,))
    rows = [(d, np.array(v, dtype=np.int64)) for d, v in keys.items()]
    copy_fingerprints(cur, "staging.lsh_bands", "band_keys", encode_fingerprints(RUN, rows))
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


def _pairs_both(dsn: str, keys: dict[str, list[int]]) -> tuple[list, list]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            _stage(cur, keys)
            found = sorted(run_band_pairs(cur, RUN))
            grouped = sorted(_sql_pairs(cur, RUN))
        conn.rollback()
    finally:
        conn.close()
    return found, grouped


def test_the_runs_candidate_pairs_are_the_sql_ones(dsn):
    rng = np.random.default_rng(9)
    keys = {f"{i:016x}": rng.integers(-(2**63), 2**63 - 1, 64).tolist() for i in range(60)}
    ids = list(keys)
    for b, group in ((0, ids[0:3]), (5, ids[2:4]), (63, ids[10:12]), (7, ids[20:22])):
        for d in group:
            keys[d][b] = 4242 + b  # documents sharing a band's key (one of them in two such groups)
    keys[ids[20]][8] = keys[ids[21]][9]  # the same key in different bands: not a candidate pair
    keys[ids[30]][0], keys[ids[31]][1] = 777, 777 ^ (1 << 56) ^ (2 << 56)  # band and key mix to one value: no pair
    keys[ids[40]] = []  # no keys
    keys[ids[41]] = [4242 + 0, 1, 2]  # fewer than 64 bands, band 0 shared with the first group
    keys["دو"] = keys[ids[42]][:6]  # another id of another length, all its keys shared with one document
    found, grouped = _pairs_both(dsn, keys)
    assert found == grouped
    assert ("0000000000000000", "0000000000000029") in found and ("0000000000000014", "0000000000000015") in found
    assert ("000000000000001e", "000000000000001f") not in found
    uniform = {d: v for d, v in keys.items() if len(v) == 64 and len(d) == 16}  # parsed at once, not one by one
    assert _pairs_both(dsn, uniform)[0] == _pairs_both(dsn, uniform)[1] != []
    assert len(found) == len(set(found)) == 2 * (6 + 1 + 1 + 1 + 1)  # both ways: 4 documents in band 0, 2 in 5, 63, 7; دو


def test_a_run_without_shared_keys_has_no_candidate_pairs(dsn):
    assert _pairs_both(dsn, {"a": [1, 2], "b": [2, 1], "c": []}) == ([], [])


def test_a_day_of_more_keys_than_the_process_holds_is_grouped_by_the_server(dsn, monkeypatch):
    from khabar import dedup_stage

    keys = {"a": [1, 2, 3], "b": [1, 5, 6], "c": [7, 2, 9], "d": [8, 8, 8]}
    expected = _pairs_both(dsn, keys)[0]
    served = []

    def sql_pairs(cur, run_id):
        served.append(run_id)
        return _sql_pairs(cur, run_id)

    monkeypatch.setattr(dedup_stage, "MAX_KEYS_IN_PROCESS", 11)  # the day has 12
    monkeypatch.setattr(dedup_stage, "_sql_pairs", sql_pairs)
    found = _pairs_both(dsn, keys)
    assert served == [RUN]  # run_band_pairs handed the day to the server
    assert found[0] == found[1] == expected == [("a", "b"), ("a", "c"), ("b", "a"), ("c", "a")]
