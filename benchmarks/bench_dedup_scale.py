"""Scale of the dedup stage: time and peak memory to deduplicate N new documents against a warehouse
already holding N, for each N given; the cost per document should stay nearly flat as N grows.

Each size gets its own database on the server (dropped afterwards unless --keep). Documents are
synthetic: words drawn from the corpus vocabulary by frequency (150–400 words each, seeded), so unrelated
documents share no 5-gram; of the N new ones, 10 % are near-copies of warehouse articles (a lead of 20
words dropped, 10 % of the rest cut from the end) and 2 % exact copies, so the candidate path and the
verification are exercised.

The warehouse (day 1) is written as dedup + load leave it for articles that are each their own story:
reporting.articles (raw_text left empty, dedup never reads it), reporting.stories, and the fingerprints
made by the stage's own code (``khabar.dedup_stage.fingerprint``: the same body hash, shingle array and
band keys ``prepare`` stores) in reporting.dedup_shingles and reporting.lsh_bands. It is generated in
chunks by --workers processes and COPied with the tables' indexes dropped, then re-indexed with the
migrations' definitions and analyzed. The new day's N documents are staged in staging.documents.

Measured, each in a fresh Python process so its peak RSS (VmHWM) is its own (the PostgreSQL server's
memory is not included): ``prepare`` of the new day (with --prepare-workers > 1, that many processes on
disjoint subsets at once; wall time of the slowest, the largest RSS), then ``decide``. Their sum is
the dedup stage (``khabar.pipeline.dedup`` runs the two in turn). Run by hand:

    PYTHONPATH=plugins benchmarks/bench_dedup_scale.py --sizes 10000 100000 [--server postgresql://postgres@127.0.0.1:5432/postgres]
    benchmarks/bench_dedup_scale.py --sizes 1000000 --workers 2 --keep     # then --reuse <db> to measure again
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "plugins"))

WAREHOUSE_DAY, NEW_DAY = date(2021, 1, 1), date(2021, 1, 2)
CHUNK = 10_000
# The warehouse tables written directly; their indexes are dropped while they are filled.
WAREHOUSE_TABLES = ("reporting.articles", "reporting.stories", "reporting.lsh_bands", "reporting.dedup_shingles")
_WORDS = _P = None  # the vocabulary, inherited by forked workers


def with_db(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


def vocabulary(shared: Path):
    import numpy as np

    counts: dict[str, int] = {}
    for path in sorted((shared / "corpus").glob("*/*.json")):
        for rec in json.loads(path.read_text(encoding="utf-8")):
            for p in [rec.get("abstract") or "", *(rec.get("paragraphs") or [])]:
                for w in p.split():
                    counts[w] = counts.get(w, 0) + 1
    words = sorted(counts)
    freq = np.array([counts[w] for w in words], dtype=float)
    return words, freq / freq.sum()


def synthesize(n: int, rng) -> list[str]:
    lengths = rng.integers(150, 401, size=n)
    draws = rng.choice(len(_WORDS), size=int(lengths.sum()), p=_P)
    out, pos = [], 0
    for length in lengths:
        out.append(" ".join([_WORDS[i] for i in draws[pos : pos + length]]))
        pos += length
    return out


def _when(day: date, i: int) -> str:
    return (datetime(day.year, day.month, day.day, 4, 0, tzinfo=UTC) + timedelta(seconds=i)).isoformat()


def _warehouse_chunk(job: tuple[str, int, int, int]) -> int:
    """Articles [start, stop) of the warehouse day, with their stories and fingerprints."""
    import numpy as np

    from khabar.dedup_stage import _array_text, fingerprint
    from khabar.warehouse import copy_rows, transaction

    dsn, n, start, stop = job
    bodies = synthesize(stop - start, np.random.default_rng([n, 1, start]))
    run_id = WAREHOUSE_DAY.isoformat()
    articles, stories, bands, arrays = [], [], [], []
    for i, body in enumerate(bodies, start):
        aid, when = f"W{i:08d}", _when(WAREHOUSE_DAY, i)
        h, arr, keys = fingerprint(body)
        articles.append((aid, f"{run_id}/synthetic.jsonl", i, body, "", when, "record_field", aid, "true", h, len(body.split()), run_id))
        stories.append((aid, aid, 1, when))
        arrays.append((aid, _array_text(arr)))
        bands.extend((aid, band, key) for band, key in enumerate(keys))
    with transaction(dsn) as cur:
        copy_rows(
            cur, "reporting.articles",
            ("article_id", "source_path", "record_index", "body", "raw_text", "published_at", "date_source", "story_id",
             "is_canonical", "body_hash", "word_count", "run_id"),
            articles,
        )
        copy_rows(cur, "reporting.stories", ("story_id", "canonical_article_id", "article_count", "first_published_at"), stories)
        copy_rows(cur, "reporting.dedup_shingles", ("article_id", "shingles"), arrays)
        copy_rows(cur, "reporting.lsh_bands", ("article_id", "band", "band_key"), bands)
    return stop - start


def _new_chunk(job: tuple[str, int, int, int]) -> int:
    """New-day documents [start, stop) that are not copies: fresh synthetic text, staged."""
    import numpy as np

    from khabar.warehouse import transaction

    dsn, n, start, stop = job
    bodies = synthesize(stop - start, np.random.default_rng([n, 2, start]))
    with transaction(dsn) as cur:
        _stage(cur, range(start, stop), bodies)
    return stop - start


def _stage(cur, indices, bodies) -> None:
    from khabar.warehouse import copy_rows

    run_id = NEW_DAY.isoformat()
    copy_rows(
        cur, "staging.documents",
        ("run_id", "doc_id", "file_id", "source_path", "record_index", "file_format", "status", "raw_text", "body",
         "published_at", "date_source", "date_reason", "word_count"),
        (
            (run_id, f"N{i:08d}", "f", f"{run_id}/synthetic.jsonl", i, "json", "active", "", b, _when(NEW_DAY, i),
             "record_field", None, len(b.split()))
            for i, b in zip(indices, bodies, strict=True)
        ),
    )


def populate(dsn: str, n: int, workers: int) -> dict:
    """The warehouse holding N articles and the new day's N documents staged; seconds per phase."""
    import numpy as np

    from khabar.warehouse import copy_rows, transaction

    times = {}
    t = time.perf_counter()
    with transaction(dsn) as cur:  # indexes off while filling (the bulk loader's way), back on after
        cur.execute(
            "select c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) from pg_constraint c"
            " where c.conrelid = any(%s::regclass[]) and c.contype = 'p'",
            (list(WAREHOUSE_TABLES),),
        )
        constraints = cur.fetchall()
        cur.execute(
            "select schemaname || '.' || indexname, indexdef from pg_indexes i"
            " where schemaname || '.' || tablename = any(%s)"
            " and indexname not in (select conname from pg_constraint where contype = 'p')",
            (list(WAREHOUSE_TABLES),),
        )
        indexes = cur.fetchall()
        for table, name, _ in constraints:
            cur.execute(f"alter table {table} drop constraint {name}")
        for name, _ in indexes:
            cur.execute(f"drop index {name}")
    bounds = [(dsn, n, s, min(s + CHUNK, n)) for s in range(0, n, CHUNK)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        sum(pool.imap_unordered(_warehouse_chunk, bounds))
    times["warehouse_generate_copy"] = time.perf_counter() - t
    t = time.perf_counter()
    with transaction(dsn) as cur:
        cur.execute("set local maintenance_work_mem = '1GB'")
        for table, name, definition in constraints:
            cur.execute(f"alter table {table} add constraint {name} {definition}")
        for _, definition in indexes:
            cur.execute(definition)
    with transaction(dsn) as cur:
        for table in WAREHOUSE_TABLES:
            cur.execute(f"analyze {table}")
    times["warehouse_index_analyze"] = time.perf_counter() - t
    # The new day: 2 % exact copies and 10 % near-copies of warehouse articles (made in SQL from the
    # stored bodies), the rest fresh text.
    t = time.perf_counter()
    rng = np.random.default_rng(n)
    n_exact, n_near = n // 50, n // 10
    picks = rng.choice(n, size=n_exact + n_near, replace=False)
    with transaction(dsn) as cur:
        cur.execute("create temporary table picks (j integer, article_id text) on commit drop")
        copy_rows(cur, "picks", ("j", "article_id"), ((j, f"W{i:08d}") for j, i in enumerate(picks.tolist())))
        cur.execute(
            "insert into staging.documents (run_id, doc_id, file_id, source_path, record_index, file_format, status,"
            " raw_text, body, published_at, date_source, word_count)"
            " select %(run)s, 'N' || lpad(p.j::text, 8, '0'), 'f', %(run)s || '/synthetic.jsonl', p.j, 'json', 'active', '',"
            "        case when p.j < %(exact)s then a.body"
            "             else array_to_string(w[21 : 20 + floor((cardinality(w) - 20) * 0.9)::int], ' ') end,"
            "        timestamptz %(base)s + p.j * interval '1 second', 'record_field', 0"
            " from picks p join reporting.articles a using (article_id), lateral string_to_array(a.body, ' ') as w",
            {"run": NEW_DAY.isoformat(), "exact": n_exact, "base": _when(NEW_DAY, 0)},
        )
        cur.execute("update staging.documents set word_count = cardinality(string_to_array(body, ' ')) where run_id = %s", (NEW_DAY.isoformat(),))
    fresh = [(dsn, n, s, min(s + CHUNK, n)) for s in range(n_exact + n_near, n, CHUNK)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        sum(pool.imap_unordered(_new_chunk, fresh))
    with transaction(dsn) as cur:
        cur.execute("analyze staging.documents")
    times["new_day_stage"] = time.perf_counter() - t
    return times


def measure(code_body: str, dsn: str) -> dict:
    """Python code in a fresh interpreter: wall seconds, peak RSS (MiB, VmHWM of the new image: ru_maxrss
    would carry the forking parent's high-water mark across exec) and what it returned."""
    code = (
        f"import json, sys, time; sys.path.insert(0, {str(PROJECT / 'plugins')!r})\n"
        "from khabar import dedup_stage\n"
        f"dsn, run_id = {dsn!r}, {NEW_DAY.isoformat()!r}\n"
        f"t = time.perf_counter(); out = {code_body}\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "print(json.dumps({'seconds': time.perf_counter() - t, 'rss_mib': int(hwm) / 1024, 'out': out}))"
    )
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True), code


def _result(proc) -> dict:
    out, _ = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"measured process failed ({proc.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def measure_dedup(dsn: str, n: int, prepare_workers: int) -> None:
    t = time.perf_counter()
    procs = [
        measure(f"dedup_stage.prepare(dsn, run_id, where='record_index % {prepare_workers} = {k}')", dsn)[0]
        for k in range(prepare_workers)
    ] if prepare_workers > 1 else [measure("dedup_stage.prepare(dsn, run_id)", dsn)[0]]
    preps = [_result(p) for p in procs]
    prep_wall = time.perf_counter() - t
    dec = _result(measure("dedup_stage.decide(dsn, run_id)", dsn)[0])
    prep_rss = max(p["rss_mib"] for p in preps)
    total = prep_wall + dec["seconds"]
    load = os.getloadavg()
    print(
        f"  N={n:>8}  prepare ({prepare_workers} process{'es' if prepare_workers > 1 else ''}) {prep_wall:8.1f} s"
        f"  {1000 * prep_wall / n:6.3f} ms/doc  peak RSS {prep_rss:6.0f} MiB",
        flush=True,
    )
    print(
        f"  N={n:>8}  decide vs {n} in warehouse   {dec['seconds']:8.1f} s  {1000 * dec['seconds'] / n:6.3f} ms/doc"
        f"  peak RSS {dec['rss_mib']:6.0f} MiB  {dec['out']}",
        flush=True,
    )
    print(
        f"  N={n:>8}  dedup stage (prepare + decide) {total:8.1f} s  {1000 * total / n:6.3f} ms/doc"
        f"  peak RSS {max(prep_rss, dec['rss_mib']):6.0f} MiB  (load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})",
        flush=True,
    )
    import psycopg2

    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "select pg_total_relation_size('reporting.lsh_bands'), pg_total_relation_size('staging.lsh_bands'),"
            " pg_total_relation_size('reporting.dedup_shingles'), pg_database_size(current_database()),"
            " (select count(*) from staging.dedup_decisions where same_story and rule <> 'exact_hash')"
        )
        rb, sb, rs, db, joined = cur.fetchone()
    conn.close()
    print(
        f"  N={n:>8}  sizes: reporting.lsh_bands {rb / 2**20:.0f} MiB, staging.lsh_bands {sb / 2**20:.0f} MiB,"
        f" reporting.dedup_shingles {rs / 2**20:.0f} MiB, database {db / 2**30:.1f} GiB;"
        f" near-copy pairs found {joined} (planted {n // 10})",
        flush=True,
    )


def run_size(server: str, n: int, workers: int, prepare_workers: int, keep: bool, reuse: str | None) -> None:
    import psycopg2

    from khabar.warehouse import apply_migrations

    name = reuse or f"khabar_bench_dedup_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(server)
    admin.autocommit = True
    dsn = with_db(server, name)
    try:
        if not reuse:
            admin.cursor().execute(f"create database {name}")
            print(f"  N={n:>8}  database {name}", flush=True)
            apply_migrations(dsn)
            times = populate(dsn, n, workers)
            print(f"  N={n:>8}  populated: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()), flush=True)
        measure_dedup(dsn, n, prepare_workers)
    finally:
        if not keep:
            admin.cursor().execute(f"drop database if exists {name} with (force)")
        admin.close()


def main() -> int:
    global _WORDS, _P
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--shared", type=Path, default=PROJECT.parent / "shared")
    ap.add_argument("--workers", type=int, default=1, help="processes generating the data (not measured)")
    ap.add_argument("--prepare-workers", type=int, default=1, help="processes running prepare on disjoint subsets")
    ap.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    ap.add_argument("--reuse", help="measure again on a kept database (one size)")
    args = ap.parse_args()
    t = time.perf_counter()
    _WORDS, _P = vocabulary(args.shared)
    print(f"vocabulary: {len(_WORDS)} words from the corpus ({time.perf_counter() - t:.1f} s); load average {os.getloadavg()}")
    for n in args.sizes:
        t = time.perf_counter()
        run_size(args.server, n, args.workers, args.prepare_workers, args.keep, args.reuse)
        print(f"  N={n:>8}  whole size incl. generation and staging: {time.perf_counter() - t:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
