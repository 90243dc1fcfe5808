"""The benchmarks' clock of psycopg2 (benchmarks/psycopg_timing.py) counts what the database costs a stage: besides
execute, fetch and COPY, the end of each transaction and the fetches of a loop over a server-side cursor (strip's
finish and dedup's pairs read that way), once a fetch and not once a row; and it tells the calls a stage makes behind
its work (``khabar.warehouse.Behind``, on another thread) from its own, and times its waits for them."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import psycopg2
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from psycopg_timing import on_main_thread, patch_behind, patch_psycopg2


@pytest.fixture
def calls():
    """psycopg2 patched to record (method, first argument) of each timed call; unpatched afterwards."""
    connect = psycopg2.connect
    seen: list[tuple[str, object]] = []

    @contextlib.contextmanager
    def around_call(cur, name, args):
        assert cur.connection is not None
        try:
            yield
        finally:
            seen.append((name, args[0] if args else None) if on_main_thread() else (f"behind {name}", None))

    patch_psycopg2(around_call)
    try:
        yield seen
    finally:
        psycopg2.connect = connect


def test_commits_and_a_server_side_loops_fetches_are_timed(pg_server, calls):
    conn = psycopg2.connect(pg_server)
    try:
        with conn:  # commits through the connection's commit()
            with conn.cursor(name="timed_loop") as stream:
                stream.itersize = 3
                stream.execute("select generate_series(1, 7)")
                assert [row[0] for row in stream] == list(range(1, 8))
        with conn, conn.cursor() as cur:
            cur.execute("select 1")
            cur.fetchall()
        with contextlib.suppress(RuntimeError), conn:  # an exception in the block rolls back
            conn.cursor().execute("select 1")
            raise RuntimeError
    finally:
        conn.close()
    names = [name for name, _ in calls]
    # 7 rows, 3 a fetch: fetches of 3, 3 and 1 row, then the empty one that ends the loop; the rows in between not timed
    assert names == [
        "execute", "fetch (iteration)", "fetch (iteration)", "fetch (iteration)", "fetch (iteration)", "commit",
        "execute", "fetchall", "commit",
        "execute", "rollback",
    ]
    assert calls[0][1] == "select generate_series(1, 7)"


def test_calls_behind_the_work_are_told_apart_and_the_waits_for_them_timed(pg_server, calls, monkeypatch):
    from khabar.warehouse import Behind

    monkeypatch.setattr(Behind, "wait", Behind.wait)  # restored afterwards: patch_behind replaces it

    @contextlib.contextmanager
    def around_wait():
        calls.append(("wait", None))
        yield

    patch_behind(around_wait)
    conn = psycopg2.connect(pg_server)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("select 1")
            with Behind(cur, overlap=True) as behind:
                first = behind.submit(lambda c: c.execute("select 2"))
                behind.wait(first)
                behind.submit(lambda c: c.execute("select 3"))
    finally:
        conn.close()
    # on the stage's thread: its own call, the wait for the first call behind, at the block's end a wait for each
    # queued call, the commit; the two calls behind on the other thread
    names = [name for name, _ in calls]
    assert [n for n in names if not n.startswith("behind")] == ["execute", "wait", "wait", "wait", "commit"]
    assert [n for n in names if n.startswith("behind")] == ["behind execute", "behind execute"]
