"""The dedup stage on ``bench_pipeline``'s generated documents, without the rest of the pipeline: LSH
candidate pairs per document, and where ``decide``'s time goes.

For each size N: the N documents ``bench_pipeline.documents`` makes (the ones ``write_landing`` renders,
same seed) are staged directly in staging.documents of a fresh database (body = abstract and paragraphs,
one a line, as strip leaves them; an empty warehouse, as in ``bench_pipeline``), then ``prepare`` and
``decide`` run as the stage runs them. Printed per size: candidate pairs (each verified once and given
one decision row) and same-story pairs per document; ``prepare`` and ``decide`` by wall time, this
process's CPU and the CPU of the PostgreSQL backend (from /proc, so the server must run on this machine);
and ``decide`` split into its SQL statements (the candidate joins build temporary tables), fetching the
candidate pairs with their shingles (server-side cursors: the joins' sort and the transfer), verification
(``compare_sorted``), writing decision rows (COPY) and the rest (stories, updates).

``--corpus`` does the same for the corpus records alone (distinct real articles): the rate of candidate
pairs real text gives.

    PYTHONPATH=plugins python benchmarks/bench_dedup_generated.py --sizes 10000 100000 [--corpus] [--keep]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "plugins"))
sys.path.insert(0, str(PROJECT / "benchmarks"))

import bench_pipeline as bench  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Meter:
    """Wall seconds and backend CPU seconds by part, for the connection currently open."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = defaultdict(float)
        self.backend: dict[str, float] = defaultdict(float)
        self.pid: int | None = None

    def timed(self, part: str, fn, *a, **k):
        c0 = backend_cpu(self.pid) if self.pid else 0.0
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            self.wall[part] += time.perf_counter() - t
            if self.pid:
                self.backend[part] += backend_cpu(self.pid) - c0


CURRENT = Meter()


def instrument() -> None:
    """Patch the stage's module (once) so that its statements, pair fetches, comparisons and COPYs are
    timed into ``CURRENT``."""
    import psycopg2
    import psycopg2.extensions

    from khabar import dedup_stage, warehouse

    class TimedCursor(psycopg2.extensions.cursor):
        def execute(self, query, vars=None):
            if self.name:  # a server-side cursor's DECLARE: its work is timed where rows are fetched
                return super().execute(query, vars)
            words = " ".join(str(query).split()[:6])
            return CURRENT.timed("sql: " + words[:70], super().execute, query, vars)

    class MeteredConnection(psycopg2.extensions.connection):
        def close(self):
            meter = CURRENT
            if self.closed == 0 and meter.pid == self.get_backend_pid():
                meter.backend["(whole connection)"] = backend_cpu(meter.pid) - meter.backend.pop("_start", 0.0)
            super().close()

    def connect(dsn: str):
        conn = psycopg2.connect(dsn, connection_factory=MeteredConnection, cursor_factory=TimedCursor)
        conn.set_client_encoding("UTF8")
        CURRENT.pid = conn.get_backend_pid()
        CURRENT.backend["_start"] = backend_cpu(CURRENT.pid)
        return conn

    warehouse.connect = connect
    original_pairs, original_compare = dedup_stage._pairs, dedup_stage.compare_sorted
    original_flush = dedup_stage._DecisionWriter.flush

    fetch = "fetch candidate pairs + shingles (server-side cursor)"

    def pairs(cur, query, run_id):
        # wall time: each row's next(); backend CPU: the whole loop's, less the decision COPYs in it
        meter = CURRENT
        it, b0, f0 = original_pairs(cur, query, run_id), backend_cpu(meter.pid), meter.backend[flush_key]
        while True:
            t = time.perf_counter()
            try:
                row = next(it)
            except StopIteration:
                break
            finally:
                meter.wall[fetch] += time.perf_counter() - t
            yield row
        meter.backend[fetch] += backend_cpu(meter.pid) - b0 - (meter.backend[flush_key] - f0)

    def compare(a, b, settings):
        t = time.perf_counter()
        try:
            return original_compare(a, b, settings)
        finally:
            CURRENT.wall["verify (compare_sorted)"] += time.perf_counter() - t

    flush_key = "write decision rows (COPY)"

    def flush(self):
        return CURRENT.timed(flush_key, original_flush, self)

    dedup_stage._pairs, dedup_stage.compare_sorted, dedup_stage._DecisionWriter.flush = pairs, compare, flush


def stage_documents(dsn: str, docs: list[dict], run_id: str) -> None:
    from khabar.warehouse import copy_rows, transaction

    rng = random.Random(1)
    base = datetime(2022, 1, 24, 20, 30, tzinfo=UTC)
    rows = []
    for i, doc in enumerate(docs):
        body = "\n".join([doc["abstract"], *doc["paragraphs"]] if doc["abstract"] else doc["paragraphs"])
        body = body.replace("\\", " ").replace("\t", " ")
        when = base + timedelta(minutes=rng.randrange(24 * 60))
        rows.append((run_id, f"D{i:07d}", "f", f"{run_id}/s{i % 20:02d}/doc_{i:06d}.txt", 0, "txt", "active", "",
                     body.replace("\n", "\\n"), when.isoformat(), "dateline", None, len(body.split())))
    with transaction(dsn) as cur:
        copy_rows(
            cur, "staging.documents",
            ("run_id", "doc_id", "file_id", "source_path", "record_index", "file_format", "status", "raw_text", "body",
             "published_at", "date_source", "date_reason", "word_count"),
            rows,
        )
        cur.execute("analyze staging.documents")


def run_size(label: str, docs: list[dict], server: str, keep: bool) -> None:
    global CURRENT
    import psycopg2

    from khabar import dedup_stage
    from khabar.warehouse import apply_migrations

    run_id = bench.DAY.isoformat()
    name = f"khabar_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(server)
    admin.autocommit = True
    admin.cursor().execute(f'create database "{name}"')
    dsn = bench.with_db(server, name)
    n = len(docs)
    try:
        apply_migrations(dsn)
        stage_documents(dsn, docs, run_id)
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        results = {}
        for part, fn in (("prepare", dedup_stage.prepare), ("decide", dedup_stage.decide)):
            meter = CURRENT = Meter()
            c, t = own_cpu(), time.perf_counter()
            out = fn(dsn, run_id)
            wall, cpu = time.perf_counter() - t, own_cpu() - c
            results[part] = out
            print(f"   {part:<8} {wall:7.1f} s wall ({1000 * wall / n:.2f} ms/doc), this process {cpu:6.1f} s CPU,"
                  f" backend {meter.backend.get('(whole connection)', 0.0):6.1f} s CPU   {out}", flush=True)
            if part == "decide":
                listed = 0.0
                for key, secs in sorted(meter.wall.items(), key=lambda kv: -kv[1]):
                    if secs >= 0.05:
                        print(f"      {secs:7.2f} s  backend CPU {meter.backend.get(key, 0.0):6.2f} s  {key}")
                    listed += secs
                print(f"      {wall - listed:7.2f} s  the rest (Python between: stories, arrays, loops)")
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("select count(*) filter (where rule <> 'exact_hash'), count(*) filter (where same_story and rule <> 'exact_hash'),"
                        " count(*) filter (where rule = 'exact_hash') from staging.dedup_decisions")
            cand, same, exact = cur.fetchone()
        conn.close()
        print(f"   {label}: {n} documents; candidate pairs {cand} = {cand / n:.3f} a document; same story {same}"
              f" = {same / n:.4f} a document; exact copies {exact}  (load average before: {load};"
              f" after: {' '.join(f'{x:.2f}' for x in os.getloadavg())})", flush=True)
    finally:
        if keep:
            print(f"   kept database {name}")
        else:
            admin.cursor().execute(f'drop database if exists "{name}" with (force)')
        admin.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000])
    ap.add_argument("--corpus", action="store_true", help="also the corpus records alone (distinct real articles)")
    ap.add_argument("--server", default=bench.SERVER)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    instrument()
    records = bench.corpus_records()
    print(f"{datetime.now():%Y-%m-%d %H:%M} bench_dedup_generated, {len(records)} corpus records,"
          f" load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    if args.corpus:
        print("== corpus records")
        run_size("corpus", [{"abstract": r["abstract"], "paragraphs": r["paragraphs"]} for r in records], args.server, args.keep)
    for n in args.sizes:
        print(f"== {n} generated documents")
        t = time.perf_counter()
        docs = bench.documents(n, records, random.Random(8))
        print(f"   generated in {time.perf_counter() - t:.1f} s", flush=True)
        run_size(str(n), docs, args.server, args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
