"""Timing what psycopg2 does, for the benchmarks: every cursor call (execute, executemany, fetch*, COPY, the fetches
of a loop over a server-side cursor), every
end of a transaction (commit, rollback, also where a ``with connection:`` block ends one: the server's commit
work, on commit drop of temporary tables, the WAL flush) and every new connection runs inside a context manager of the
benchmark's, which measures what it wants (wall time, the backend's CPU) and files it (by statement, by phase).
Calls a stage makes behind its work (``khabar.warehouse.Behind``) run on another thread: ``on_main_thread`` tells
them apart, and ``patch_behind`` times what the stage waits for them."""

from __future__ import annotations

import contextlib
import threading
import types
from collections.abc import Callable

CURSOR_METHODS = ("execute", "executemany", "fetchall", "fetchone", "fetchmany", "copy_expert")
CONNECTION_METHODS = ("commit", "rollback")  # a "with connection:" block calls these


def patch_psycopg2(
    around_call: Callable[[object, str, tuple], contextlib.AbstractContextManager],
    around_connect: Callable[[], contextlib.AbstractContextManager] | None = None,
) -> None:
    """From now on ``psycopg2.connect`` runs inside ``around_connect()`` and its connections' cursors run each
    of ``CURSOR_METHODS`` inside ``around_call(cursor, method name, positional arguments)``; the connections'
    ``CONNECTION_METHODS`` run inside ``around_call(stand-in, "commit" | "rollback", ())``,
    the stand-in a cursor-like object whose ``connection`` is the connection and ``query`` None."""
    import psycopg2
    import psycopg2.extensions

    def timed(method):
        def wrapper(cur, *a, **k):
            with around_call(cur, method.__name__, a):
                return method(cur, *a, **k)

        return wrapper

    methods = {name: timed(getattr(psycopg2.extensions.cursor, name)) for name in CURSOR_METHODS}
    base_next = psycopg2.extensions.cursor.__next__

    def next_timed(cur):
        # iterating a server-side (named) cursor fetches its next itersize rows, in C, when the rows fetched so far
        # are used up: that call is timed as a fetch, the others (a row already here) are not
        if cur.name is not None and (cur.rowcount < 0 or cur.rownumber >= cur.rowcount):
            with around_call(cur, "fetch (iteration)", ()):
                return base_next(cur)
        return base_next(cur)

    methods["__next__"] = next_timed
    timed_cursor = type("TimedCursor", (psycopg2.extensions.cursor,), methods)

    def timed_end(method):
        def wrapper(conn, *a, **k):
            with around_call(types.SimpleNamespace(connection=conn, query=None), method.__name__, ()):
                return method(conn, *a, **k)

        return wrapper

    ends = {name: timed_end(getattr(psycopg2.extensions.connection, name)) for name in CONNECTION_METHODS}
    timed_connection = type("TimedConnection", (psycopg2.extensions.connection,), ends)
    connect = psycopg2.connect

    def connect_timed(*a, **k):
        k.setdefault("cursor_factory", timed_cursor)
        k.setdefault("connection_factory", timed_connection)
        with around_connect() if around_connect else contextlib.nullcontext():
            return connect(*a, **k)

    psycopg2.connect = connect_timed


def on_main_thread() -> bool:
    """Whether the call runs on the thread the stage runs on (a Celery worker's task, the benchmark's stage, a
    forked batch worker's): calls on ``Behind``'s thread overlap the stage's work and cost it only its waits."""
    return threading.current_thread() is threading.main_thread()


def patch_behind(around_wait: Callable[[], contextlib.AbstractContextManager]) -> None:
    """From now on each wait of a stage for its calls behind its work (``Behind.wait``, which ``Behind.close``
    calls for each queued call) runs inside ``around_wait()``."""
    from khabar.warehouse import Behind

    wait = Behind.wait

    def wait_timed(self, future):
        with around_wait():
            return wait(self, future)

    Behind.wait = wait_timed
