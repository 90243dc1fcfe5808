"""Scale of the dedup stage: time and peak memory to deduplicate N new documents against a warehouse
already holding N, for each N given; the cost per document should stay nearly flat as N grows.

Each size gets its own database on the server (dropped afterwards). Documents are synthetic: words
drawn from the corpus vocabulary by frequency (150–400 words each, seeded), so unrelated documents share
no 5-gram; of the N new ones, 10 % are near-copies of warehouse articles (a lead dropped, 10 % of the
words cut) and 2 % exact copies, so the candidate path and the verification are exercised. The stages
timed are the library's own (khabar.pipeline.dedup and load), each in a fresh Python process so its
peak RSS is its own (the PostgreSQL server's memory is not included). Run by hand:

    PYTHONPATH=plugins benchmarks/bench_dedup_scale.py --sizes 10000 100000 [--server postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
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


def synthesize(n: int, words, p, rng, offset: int) -> list[str]:
    lengths = rng.integers(150, 401, size=n)
    draws = rng.choice(len(words), size=int(lengths.sum()), p=p)
    out, pos = [], 0
    for length in lengths:
        out.append(" ".join(words[i] for i in draws[pos : pos + length]))
        pos += length
    return out


def stage_documents(dsn: str, run_id: str, bodies: list[str], day: date) -> None:
    from khabar.warehouse import copy_rows, transaction

    base = datetime(day.year, day.month, day.day, 4, 0, tzinfo=UTC)
    with transaction(dsn) as cur:
        copy_rows(
            cur,
            "staging.documents",
            ("run_id", "doc_id", "file_id", "source_path", "record_index", "file_format", "status", "raw_text", "body",
             "published_at", "date_source", "date_reason", "word_count"),
            (
                (run_id, f"{run_id[-2:]}{i:08d}", "f", f"{run_id}/synthetic.jsonl", i, "json", "active", b, b,
                 (base + timedelta(seconds=i)).isoformat(), "record_field", None, len(b.split()))
                for i, b in enumerate(bodies)
            ),
        )


def measure(stage: str, dsn: str, day: date) -> dict:
    """One stage in a fresh interpreter: wall seconds, peak RSS (MiB, VmHWM of the new image: ru_maxrss
    would carry the forking parent's high-water mark across exec) and what the stage returned."""
    plugins, day_iso = str(PROJECT / "plugins"), day.isoformat()
    code = (
        f"import json, sys, time; sys.path.insert(0, {plugins!r})\n"
        "from datetime import date; from pathlib import Path\n"
        "from khabar import pipeline\n"
        f"t = time.perf_counter(); out = getattr(pipeline, {stage!r})({dsn!r}, pipeline.Run(date.fromisoformat({day_iso!r}), Path('.')))\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "print(json.dumps({'seconds': time.perf_counter() - t, 'rss_mib': int(hwm) / 1024, 'out': out}))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def run_size(server: str, n: int, words, p) -> None:
    import numpy as np
    import psycopg2

    from khabar.warehouse import apply_migrations

    rng = np.random.default_rng(n)
    name = f"khabar_bench_dedup_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(server)
    admin.autocommit = True
    admin.cursor().execute(f"create database {name}")
    dsn = with_db(server, name)
    try:
        apply_migrations(dsn)
        old = synthesize(n, words, p, rng, 0)
        new = synthesize(n, words, p, rng, n)
        picks = rng.choice(n, size=n // 8, replace=False)
        for j, i in enumerate(picks):
            if j < n // 50:
                new[j] = old[i]  # exact copy
            elif j < n // 50 + n // 10:
                w = old[i].split()[20:]
                new[j] = " ".join(w[: int(len(w) * 0.9)])  # lead dropped, the end cut
        stage_documents(dsn, WAREHOUSE_DAY.isoformat(), old, WAREHOUSE_DAY)
        stage_documents(dsn, NEW_DAY.isoformat(), new, NEW_DAY)
        first = measure("dedup", dsn, WAREHOUSE_DAY)
        load1 = measure("load", dsn, WAREHOUSE_DAY)
        second = measure("dedup", dsn, NEW_DAY)
        load2 = measure("load", dsn, NEW_DAY)
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute(
                "select pg_total_relation_size('reporting.lsh_bands'), pg_total_relation_size('reporting.dedup_shingles'),"
                " (select count(*) from reporting.story_merges), (select count(*) from reporting.stories where article_count > 1)"
            )
            bands_bytes, shingles_bytes, merges, multi = cur.fetchone()
        conn.close()
        for label, m in (("dedup, empty warehouse", first), (f"dedup vs {n} in warehouse", second)):
            print(
                f"  N={n:>8}  {label:<28} {m['seconds']:8.1f} s  {1000 * m['seconds'] / n:6.3f} ms/doc"
                f"  peak RSS {m['rss_mib']:7.0f} MiB  {m['out']}"
            )
        for label, m in (("load, empty warehouse", load1), (f"load vs {n} in warehouse", load2)):
            print(f"  N={n:>8}  {label:<28} {m['seconds']:8.1f} s  {1000 * m['seconds'] / n:6.3f} ms/doc  peak RSS {m['rss_mib']:7.0f} MiB")
        print(
            f"  N={n:>8}  warehouse after both: lsh_bands {bands_bytes / 2**20:.0f} MiB, dedup_shingles {shingles_bytes / 2**20:.0f} MiB,"
            f" stories with >1 member {multi}, merges {merges}"
        )
    finally:
        admin.cursor().execute(f"drop database if exists {name} with (force)")
        admin.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--shared", type=Path, default=PROJECT.parent / "shared")
    args = ap.parse_args()
    t = time.perf_counter()
    words, p = vocabulary(args.shared)
    print(f"vocabulary: {len(words)} words from the corpus ({time.perf_counter() - t:.1f} s)")
    for n in args.sizes:
        t = time.perf_counter()
        run_size(args.server, n, words, p)
        print(f"  N={n:>8}  whole size incl. generation and staging: {time.perf_counter() - t:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
