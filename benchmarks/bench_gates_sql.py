"""Where the gates' time goes: each stage's gate run on a database kept by ``bench_pipeline.py --keep``,
with its wall time, this process's CPU (Great Expectations), and every SQL statement GX sends, timed by
wall clock and by the CPU its PostgreSQL backend spent (read from /proc, so the server must run on this
machine). Backend CPU is what a busy shared machine changes least. Parallel plans are turned off for the
gate's connections (``max_parallel_workers_per_gather = 0``) so that the backend does all the work.

The first gate also pays GX's import (scipy, pandas, altair: seconds) and its first context.

    PYTHONPATH=plugins python benchmarks/bench_gates_sql.py khabar_bench_1234abcd [stage ...]
"""

from __future__ import annotations

import os
import sys
import time
from datetime import date
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "plugins"))
SERVER = os.environ.get("KHABAR_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TICK = os.sysconf("SC_CLK_TCK")
STAGES = ("ingest", "strip", "normalize", "date_tag", "dedup", "load")


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def main() -> int:
    import sqlalchemy
    from sqlalchemy import event

    database, stages = sys.argv[1], sys.argv[2:] or list(STAGES)
    top, width = int(os.environ.get("KHABAR_BENCH_TOP") or 3), int(os.environ.get("KHABAR_BENCH_WIDTH") or 120)
    timings: list[tuple[float, float, str]] = []

    def pid_of(conn) -> int:
        return conn.connection.dbapi_connection.info.backend_pid

    @event.listens_for(sqlalchemy.engine.Engine, "connect")
    def serial(dbapi_connection, record):
        with dbapi_connection.cursor() as cur:
            cur.execute("set max_parallel_workers_per_gather = 0")

    @event.listens_for(sqlalchemy.engine.Engine, "before_cursor_execute")
    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("t", []).append((time.perf_counter(), backend_cpu(pid_of(conn))))

    @event.listens_for(sqlalchemy.engine.Engine, "after_cursor_execute")
    def after(conn, cursor, statement, parameters, context, executemany):
        t, c = conn.info["t"].pop()
        timings.append((time.perf_counter() - t, backend_cpu(pid_of(conn)) - c, statement))

    from urllib.parse import urlsplit, urlunsplit

    from khabar.gates import validate_stage

    dsn = urlunsplit(urlsplit(SERVER)._replace(path=f"/{database}"))
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; Data Docs {os.environ.get('NEWS_DATA_DOCS_DIR') or 'on'}")
    for stage in stages:
        timings.clear()
        t, c = time.perf_counter(), time.process_time()
        validate_stage(dsn, stage, "2022-01-25", date(2022, 1, 25))
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        print(f"== {stage}: {wall:.2f}s wall, {cpu:.2f}s CPU in this process; SQL {sum(w for w, _, _ in timings):.2f}s wall,"
              f" {sum(b for _, b, _ in timings):.2f}s backend CPU in {len(timings)} statements")
        for w, b, statement in sorted(timings, key=lambda x: -x[1])[:top]:
            print(f"   {w:6.2f}s wall {b:6.2f}s CPU  {' '.join(statement.split())[:width]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
