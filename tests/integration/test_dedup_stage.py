"""The dedup stage in two parts against a real PostgreSQL: preparing a run in disjoint subsets (in two
threads at once, one of them twice, or one left for decide to prepare) gives, after decide, exactly the
rows that preparing it whole does."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

import psycopg2
import pytest
from test_dedup_stories import FAIR, RAIL, WATER, _article

from helpers import write_landing
from khabar.dedup_stage import _from_array_send, decide, prepare
from khabar.pipeline import STAGE_FUNCTIONS, STAGES, Run, run_day

pytestmark = pytest.mark.integration

DAY1, DAY2 = date(2022, 1, 20), date(2022, 1, 21)


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    root = tmp_path_factory.mktemp("landing")
    files = {
        "2022-01-20/water.txt": _article("آغاز خط دوم انتقال آب", "پنجشنبه 30 دی 1400 - 12:00", WATER),
        "2022-01-20/rail.txt": _article("قطار حومه ای راه می افتد", "پنجشنبه 30 دی 1400 - 08:00", RAIL),
        # Day 2: a bridge of both day-1 stories, an exact copy (Arabic letters), a near-copy inside the day
        # and against day 1 (rail without its lead), and a new story with its own near-copy.
        "2022-01-21/roundup.txt": _article("خبرهای عمرانی استان", "جمعه 1 بهمن 1400 - 09:00", WATER + RAIL),
        "2022-01-21/water_arabic.txt": _article(
            "آغاز خط دوم انتقال آب", "جمعه 1 بهمن 1400 - 10:00", [p.replace("ی", "ي").replace("ک", "ك") for p in WATER]
        ),
        "2022-01-21/rail_short.txt": _article("قطار حومه ای", "جمعه 1 بهمن 1400 - 11:00", RAIL[1:]),
        "2022-01-21/fair.txt": _article("نمایشگاه کتاب استان گشایش یافت", "جمعه 1 بهمن 1400 - 12:00", FAIR),
        "2022-01-21/fair_copy.txt": _article("گشایش نمایشگاه کتاب", "جمعه 1 بهمن 1400 - 13:00", FAIR[1:]),
    }
    return write_landing(root, files)


@pytest.fixture(scope="module")
def staged(fresh_db, landing):
    """Day 1 loaded; day 2 through every stage before dedup."""
    run_day(fresh_db, Run(DAY1, landing))
    run = Run(DAY2, landing)
    for stage in STAGES[: STAGES.index("dedup")]:
        STAGE_FUNCTIONS[stage](fresh_db, run)
    return fresh_db, run.run_id


def snapshot(dsn: str, run_id: str) -> dict[str, list[tuple]]:
    queries = {
        "documents": "select doc_id, status, body_hash, duplicate_of, story_id from staging.documents where run_id = %s",
        "lsh_bands": "select doc_id, band_keys from staging.lsh_bands where run_id = %s",
        "dedup_shingles": "select doc_id, shingles from staging.dedup_shingles where run_id = %s",
        "dedup_decisions": "select doc_id, other_article_id, jaccard, containment, rule, same_story"
        " from staging.dedup_decisions where run_id = %s",
        "story_merges": "select merged_story_id, into_story_id, bridge_article_id from staging.story_merges where run_id = %s",
    }
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        out = {}
        for name, sql in queries.items():
            cur.execute(sql, (run_id,))
            out[name] = sorted(cur.fetchall(), key=repr)
    conn.close()
    return out


def reset(dsn: str, run_id: str) -> None:
    """Forget every dedup result of the run (as before the stage ever ran)."""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("update staging.documents set body_hash = null, duplicate_of = null, story_id = null where run_id = %s", (run_id,))
        for table in ("lsh_bands", "dedup_shingles", "dedup_decisions", "story_merges"):
            cur.execute(f"delete from staging.{table} where run_id = %s", (run_id,))
    conn.close()


def doc_ids(dsn: str, run_id: str) -> list[str]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("select doc_id from staging.documents where run_id = %s order by doc_id", (run_id,))
        ids = [r[0] for r in cur.fetchall()]
    conn.close()
    return ids


@pytest.fixture(scope="module")
def whole(staged):
    dsn, run_id = staged
    prepare(dsn, run_id)
    decide(dsn, run_id)
    return snapshot(dsn, run_id)


def test_the_whole_run_has_every_kind_of_decision(whole):
    rules = {rule for _, _, _, _, rule, _ in whole["dedup_decisions"]}
    assert "exact_hash" in rules and any(r.startswith("containment") for r in rules)
    assert [s for *_, s in whole["documents"]].count(None) == 1  # the exact copy has no story of its own
    assert len(whole["story_merges"]) == 1  # the roundup bridges water and rail
    assert {d for d, *_ in whole["dedup_shingles"]} == {d for d, s, *_ in whole["documents"] if s == "active"}


def test_two_disjoint_subsets_prepared_at_once_give_the_same_rows(staged, whole):
    dsn, run_id = staged
    reset(dsn, run_id)
    ids = doc_ids(dsn, run_id)
    first = ids[::2]
    with ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(prepare, dsn, run_id, first),
            pool.submit(prepare, dsn, run_id, None, "doc_id <> all(array[" + ",".join(f"'{d}'" for d in first) + "])"),
        ]
        assert sum(f.result()["documents"] for f in futures) == len(ids)
    prepare(dsn, run_id, first)  # a subset prepared again replaces its rows
    decide(dsn, run_id)
    assert snapshot(dsn, run_id) == whole


def test_decide_prepares_what_no_subset_did_and_can_run_again(staged, whole):
    dsn, run_id = staged
    reset(dsn, run_id)
    prepare(dsn, run_id, doc_ids(dsn, run_id)[:2])
    decide(dsn, run_id)
    assert snapshot(dsn, run_id) == whole
    decide(dsn, run_id)  # the exact copy's fingerprint, dropped by the first decide, is made again
    assert snapshot(dsn, run_id) == whole


def test_decide_drops_the_fingerprints_of_documents_no_longer_staged(staged, whole):
    dsn, run_id = staged
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:  # a document prepared, then gone from staging
        cur.execute("insert into staging.dedup_shingles (run_id, doc_id, shingles) values (%s, 'gone', '{1,2,3}')", (run_id,))
        cur.execute("insert into staging.lsh_bands (run_id, doc_id, band_keys) values (%s, 'gone', '{42}')", (run_id,))
    conn.close()
    prepare(dsn, run_id, where="doc_id <> 'gone'")
    decide(dsn, run_id)
    assert snapshot(dsn, run_id) == whole


def test_shingle_arrays_read_in_binary_form_are_the_stored_arrays(staged, whole):
    """decide reads shingle arrays as ``array_send`` bytes: the same integers as the text form, for every
    stored array and the edge cases (empty, the int32 extremes)."""
    dsn, _ = staged
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "select a, array_send(a) from (select shingles from staging.dedup_shingles"
            " union all select shingles from reporting.dedup_shingles"
            " union all values ('{}'::integer[]), ('{-2147483648,-1,0,1,2147483647}'::integer[])) t(a)"
        )
        rows = cur.fetchall()
    conn.close()
    assert len(rows) > 4 and any(len(a) > 8 for a, _ in rows)
    for text_form, binary in rows:
        assert _from_array_send(binary).tolist() == text_form


def test_fingerprints_copied_in_binary_form_are_the_arrays_given(staged, whole):
    """prepare writes shingle (int4[]) and band key (int8[]) arrays with a binary COPY: the server stores
    the very integers given, edge cases included (empty, the extremes), under the given ids."""
    import numpy as np

    from khabar.dedup_stage import copy_fingerprints, encode_fingerprints

    dsn, _ = staged
    shingles = {"a": [], "b": [-(2**31), -1, 0, 1, 2**31 - 1], "c": list(range(-500, 500, 7)), "دو": [42]}
    keys = {"a": [-(2**63), 2**63 - 1], "b": [], "c": [7] * 64}
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("create temporary table s (run_id text, doc_id text, shingles integer[])")
        cur.execute("create temporary table k (run_id text, doc_id text, band_keys bigint[])")
        copy_fingerprints(cur, "s", "shingles", encode_fingerprints(
            "2022-01-21", [(d, np.array(v, dtype=np.int32)) for d, v in shingles.items()]))
        copy_fingerprints(cur, "k", "band_keys", encode_fingerprints(
            "2022-01-21", [(d, np.array(v, dtype=np.int64)) for d, v in keys.items()]))
        cur.execute("select run_id, doc_id, shingles from s")
        assert {d: (r, v) for r, d, v in cur.fetchall()} == {d: ("2022-01-21", v) for d, v in shingles.items()}
        cur.execute("select run_id, doc_id, band_keys from k")
        assert {d: (r, v) for r, d, v in cur.fetchall()} == {d: ("2022-01-21", v) for d, v in keys.items()}
    conn.close()


def test_run_candidates_are_documents_sharing_a_band_and_its_key(staged, whole):
    """Candidate pairs inside the run are found by a key mixing band and band key (khabar.dedup_stage
    RUN_BANDS_MIXED); two documents whose different (band, key) mix to the same value are not paired, two
    sharing one band's key are, and so is each document with the others of its key."""
    dsn, run_id = staged
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("select doc_id, array_length(band_keys, 1) from staging.lsh_bands where run_id = %s order by doc_id", (run_id,))
        (a, bands), (b, _), (c, _), (d, _), *_ = cur.fetchall()
        cur.execute(  # every key of the run its document's alone
            "update staging.lsh_bands l set band_keys = array(select 1000000 * o.n + g from generate_series(1, %s) g)"
            " from (select doc_id, row_number() over (order by doc_id) as n from staging.lsh_bands where run_id = %s) o"
            " where l.run_id = %s and l.doc_id = o.doc_id",
            (bands, run_id, run_id),
        )
        # a in band 0 and b in band 1 mix to one value; c and d share band 5's key
        cur.execute("update staging.lsh_bands set band_keys[1] = 777 where run_id = %s and doc_id = %s", (run_id, a))
        cur.execute("update staging.lsh_bands set band_keys[2] = %s where run_id = %s and doc_id = %s",
                    (777 ^ (1 << 56) ^ (2 << 56), run_id, b))
        cur.execute("update staging.lsh_bands set band_keys[6] = 555 where run_id = %s and doc_id in (%s, %s)", (run_id, c, d))
    conn.close()
    try:
        decide(dsn, run_id)
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute(
                "select doc_id, other_article_id from staging.dedup_decisions where run_id = %s and rule <> 'exact_hash'"
                " and other_article_id in (select doc_id from staging.documents where run_id = %s)",
                (run_id, run_id),
            )
            pairs = {frozenset(p) for p in cur.fetchall()}
        conn.close()
        assert pairs == {frozenset((c, d))}
    finally:
        prepare(dsn, run_id)
        decide(dsn, run_id)
    assert snapshot(dsn, run_id) == whole
