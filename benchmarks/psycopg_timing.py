"""Timing what psycopg2 does, for the benchmarks: every cursor call (execute, executemany, fetch*, COPY) and
every new connection runs inside a context manager of the benchmark's, which measures what it wants (wall
time, the backend's CPU) and files it (by statement, by phase)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

CURSOR_METHODS = ("execute", "executemany", "fetchall", "fetchone", "fetchmany", "copy_expert")


def patch_psycopg2(
    around_call: Callable[[object, str, tuple], contextlib.AbstractContextManager],
    around_connect: Callable[[], contextlib.AbstractContextManager] | None = None,
) -> None:
    """From now on ``psycopg2.connect`` runs inside ``around_connect()`` and its connections' cursors run each
    of ``CURSOR_METHODS`` inside ``around_call(cursor, method name, positional arguments)``."""
    import psycopg2
    import psycopg2.extensions

    def timed(method):
        def wrapper(cur, *a, **k):
            with around_call(cur, method.__name__, a):
                return method(cur, *a, **k)

        return wrapper

    methods = {name: timed(getattr(psycopg2.extensions.cursor, name)) for name in CURSOR_METHODS}
    timed_cursor = type("TimedCursor", (psycopg2.extensions.cursor,), methods)
    connect = psycopg2.connect

    def connect_timed(*a, **k):
        k.setdefault("cursor_factory", timed_cursor)
        with around_connect() if around_connect else contextlib.nullcontext():
            return connect(*a, **k)

    psycopg2.connect = connect_timed
