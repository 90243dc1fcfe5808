"""Pipeline throughput: a generated landing zone of N documents through every stage and gate, timed.

The landing zone is one day's partition built from ``../shared/corpus`` records (KHABAR_SHARED_DIR moves
it): each document is a ``.txt`` scrape (title, dateline, share/print lines, end marker, related-news
list), a saved ``.html`` page (header, nav, article, aside, footer, scripts) or a record in a ``.json``
crawler batch (50 records a file). About 5% are near-duplicates of an earlier document (a paragraph
dropped, a phrase put before the lead) and 2% exact copies. Past the corpus' ~4,000 records a document's paragraphs
are sentences drawn at random from all records with every 5th word replaced, so bodies, their lines and
their 5-word shingles stay distinct (``documents`` says why).

The landing zone is written file by file (no text held). Each size then runs in a child process (so
peak RSS is that size's pipeline alone) against a fresh database on 127.0.0.1:5432, stage by stage as
news_ingest runs them (``run_stage`` per batch of ``--batch-size``, ``run_finish``, then ``run_gate``), timing
each, and the time spent inside psycopg2 (connect, execute, fetch, COPY) during the stages: the database share of a
stage's time. ``--workers 2`` runs the batches in two processes (two Celery workers' worth of mapped task
instances); ``--workers 0`` each stage as one whole-day call. ``--airflow`` also runs ``airflow dags test
news_ingest`` on the same landing zone and a fresh database.

    PYTHONPATH=plugins python benchmarks/bench_pipeline.py --sizes 1000 10000 [--mix txt|html|json|mixed] [--workers 2] [--airflow]
    PYTHONPATH=plugins python benchmarks/bench_pipeline.py --profile strip --sizes 1000   # cProfile of one stage
    PYTHONPATH=plugins python benchmarks/bench_pipeline.py --keep --sizes 10000   # keep the database for EXPLAIN
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, datetime
from html import escape
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit, urlunsplit

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "plugins"))
from khabar.pipeline import DEFAULT_BATCH_SIZE  # noqa: E402  (the project's library, beside the benchmarks)

SHARED = Path(os.environ.get("KHABAR_SHARED_DIR") or PROJECT.parent / "shared")
SERVER = os.environ.get("KHABAR_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
DAY = date(2022, 1, 25)
DATELINE = "سه شنبه 5 بهمن 1400 - {h:02d}:{m:02d}"
TXT_FURNITURE_TOP = ["اشتراک گذاری", "چاپ"]
TXT_FURNITURE_END = ["انتهای پیام/", "برچسب ها", "اخبار مرتبط", "ارسال نظرات", "پربیننده ترین خبرها"]
STAGES = ("ingest", "strip", "normalize", "date_tag", "dedup", "load")


def with_db(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


def corpus_records() -> list[dict]:
    """Corpus records with a title and paragraphs."""
    out = []
    for path in sorted((SHARED / "corpus").glob("*/*.json")):
        for rec in json.loads(path.read_text(encoding="utf-8")):
            paras = [p for p in rec.get("paragraphs") or [] if isinstance(p, str) and p.strip()]
            if rec.get("title") and paras:
                out.append({"title": rec["title"], "abstract": rec.get("abstract") or "", "paragraphs": paras})
    return out


# Past the corpus, every REWORD_STRIDE-th word of a generated body is replaced by a corpus word drawn by
# frequency: any run of SHINGLE_WORDS (5) consecutive words holds a replaced one, so a 5-word shingle does not
# recur across unrelated documents (see ``documents``).
REWORD_STRIDE = 5


def documents(n: int, records: list[dict], rng: random.Random) -> list[dict]:
    """N documents: corpus records, then paragraph mixes; ~5% near-duplicates, ~2% exact copies.

    Past the corpus a document has 4 paragraphs of 3 sentences drawn at random from all records' ~41,900
    sentences, with every 5th word (from a random offset) replaced by a corpus word drawn by frequency, so
    no line recurs (a paragraph seen in 5+ documents of one outlet would be learned as furniture and cut)
    and, what drawing alone did not give, no 5-word shingle recurs across unrelated documents. With
    sentences drawn unchanged, each recurred ~29 times at 100k and documents that shared one became LSH
    candidates (64 bands of 2 rows): candidate pairs grew with the square of N, 1.47 a document at 10k and
    17.9 at 100k (dedup's decide 2.4 s -> 230 s), against 0.13 a document among the corpus' 4,000 distinct
    real articles (benchmarks/bench_dedup_generated.py). Reworded: 0.12 a document at 10k and 0.08 at 100k
    (decide 1.2 s -> 13.9 s), most of them the planted near-duplicates (same story: 0.05 a document at both
    sizes). The record's abstract, the body's first line, is reworded with the paragraphs: unchanged it
    recurred ~n / 4,000 times. Planted near-duplicates and copies come from the generated bodies, so they
    still match.
    """
    docs: list[dict] = []
    sentences = [t.strip() + "." for r in records for p in r["paragraphs"] for t in p.split(".") if len(t.split()) >= 4]
    # every word of every sentence, once per occurrence: a uniform pick is a pick by frequency
    words = [w for s in sentences for w in s.split() if any(c.isalnum() for c in w)]
    for i in range(n):
        roll = rng.random()
        if docs and roll < 0.02:
            docs.append(dict(docs[rng.randrange(len(docs))], copy=True))
            continue
        if docs and roll < 0.07:
            src = docs[rng.randrange(len(docs))]
            paras = list(src["paragraphs"])
            if len(paras) > 2:
                paras.pop(rng.randrange(1, len(paras)))
            paras[0] = "به گزارش خبرنگار ما، " + paras[0]
            docs.append({"title": src["title"] + " (بازنشر)", "abstract": src["abstract"], "paragraphs": paras})
            continue
        rec = records[i % len(records)]
        abstract = rec["abstract"]
        if i < len(records):
            paras = list(rec["paragraphs"])
        else:
            paras = [" ".join(rng.choice(sentences) for _ in range(3)) for _ in range(4)]
            if abstract:
                abstract, *paras = reword([abstract, *paras], words, rng)
            else:
                paras = reword(paras, words, rng)
        docs.append({"title": rec["title"], "abstract": abstract, "paragraphs": paras})
    return docs


def reword(paras: list[str], words: list[str], rng: random.Random) -> list[str]:
    """The paragraphs with every REWORD_STRIDE-th word of the whole body (from a random offset, counted
    across paragraph breaks, since shingles span them) replaced by a random one of ``words``."""
    offset, pos, out = rng.randrange(REWORD_STRIDE), 0, []
    for para in paras:
        tokens = para.split()
        for j in range((offset - pos) % REWORD_STRIDE, len(tokens), REWORD_STRIDE):
            tokens[j] = rng.choice(words)
        pos += len(tokens)
        out.append(" ".join(tokens))
    return out


def render_txt(doc: dict, rng: random.Random) -> str:
    lines = [doc["title"], DATELINE.format(h=rng.randrange(24), m=rng.randrange(60)), *TXT_FURNITURE_TOP]
    if doc["abstract"]:
        lines.append(doc["abstract"])
    lines += doc["paragraphs"] + TXT_FURNITURE_END[:2] + [f"کد خبر {rng.randrange(10**6)}"] + TXT_FURNITURE_END[2:]
    return "\n".join(lines) + "\n"


def render_html(doc: dict, rng: random.Random) -> str:
    paras = "".join(f"<p>{escape(p)}</p>" for p in doc["paragraphs"])
    return (
        "<!DOCTYPE html><html lang='fa' dir='rtl'><head><meta charset='utf-8'>"
        f"<title>{escape(doc['title'])} - خبرگزاری نمونه</title>"
        f"<meta property='og:title' content='{escape(doc['title'], quote=True)}'>"
        f"<meta property='article:published_time' content='2022-01-25T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00+03:30'>"
        "<style>body{font-family:Tahoma}</style><script>var ga=1;</script></head><body>"
        "<header><a href='/'>صفحه اصلی</a> | <a href='/s'>سیاسی</a> | <a href='/e'>اقتصادی</a></header>"
        "<nav><ul><li>ورزشی</li><li>فرهنگی</li><li>بین الملل</li></ul></nav>"
        f"<article><h1>{escape(doc['title'])}</h1><div class='date'>{DATELINE.format(h=10, m=30)}</div>"
        f"<p class='lead'>{escape(doc['abstract'])}</p><div itemprop='articleBody'>{paras}</div>"
        "<div class='tags'>برچسب ها: اقتصاد، تهران</div><div class='tools'>اشتراک گذاری | چاپ</div></article>"
        "<aside><h3>پربیننده ترین خبرها</h3><ul><li>خبر اول</li><li>خبر دوم</li></ul></aside>"
        "<footer>کلیه حقوق این سایت محفوظ است.</footer><script>track();</script></body></html>"
    )


def write_landing(root: Path, n: int, mix: str, seed: int = 8) -> dict[str, int]:
    rng = random.Random(seed)
    docs = documents(n, corpus_records(), rng)
    part = root / DAY.isoformat()
    part.mkdir(parents=True, exist_ok=True)
    kinds = {"txt": ["txt"], "html": ["html"], "json": ["json"], "mixed": ["txt", "txt", "html", "json"]}[mix]
    counts = {"txt": 0, "html": 0, "json": 0}
    batch: list[dict] = []

    def flush():
        if batch:
            (part / f"crawl_{counts['json']:06d}.json").write_text(json.dumps(batch, ensure_ascii=False), encoding="utf-8")
            batch.clear()

    for i, doc in enumerate(docs):
        kind = rng.choice(kinds)
        counts[kind] += 1
        if kind == "json":
            batch.append({"title": doc["title"], "abstract": doc["abstract"], "paragraphs": doc["paragraphs"],
                          "date": f"1400/11/05 {rng.randrange(24):02d}:{rng.randrange(60):02d}"})
            if len(batch) == 50:
                flush()
            continue
        # each file is written as soon as it is rendered: no text of the zone is held (an exact copy
        # is rendered again from the same record, so its body is the same)
        text = render_txt(doc, rng) if kind == "txt" else render_html(doc, rng)
        sub = part / f"s{i % 20:02d}"
        sub.mkdir(exist_ok=True)
        (sub / f"doc_{i:06d}.{kind}").write_text(text, encoding="utf-8")
    flush()
    return counts


class DbClock:
    """Wall time spent inside psycopg2 calls (connect, execute, executemany, fetch*, COPY, commit, rollback, the
    fetches of a loop over a server-side cursor) on the stage's thread, and waiting there for the calls running
    behind its work (``khabar.warehouse.Behind``), by patching them (``psycopg_timing``); the calls behind, on
    their own thread, are counted apart (``behind``): they overlap the stage's work. (Most COPYs' rows are
    written to a buffer before the call: building them counts as the stage's own work; the load's band rows are
    streamed, their pieces built during the call.)
    With ``per_statement`` (``--top-sql``) also the CPU the connection's PostgreSQL backend spent during each
    call (read from /proc, so only for a server on this machine; a parallel plan's workers are not counted):
    what a busy shared machine changes least."""

    total = 0.0  # on the stage's thread, with its waits for the calls behind its work
    behind = 0.0  # the calls behind the stage's work (khabar.warehouse.Behind), on their own thread
    # (step, statement's first words) -> [seconds, calls, backend CPU seconds], --top-sql
    by_statement: ClassVar[dict[tuple[str, str], list]] = {}
    step = ""  # what runs now: a stage, its gate

    @classmethod
    def install(cls, per_statement: bool = False) -> None:
        from contextlib import contextmanager

        from bench_gates_sql import backend_cpu as pid_cpu
        from psycopg_timing import on_main_thread, patch_behind, patch_psycopg2

        def backend_cpu(cur) -> float:
            try:
                return pid_cpu(cur.connection.info.backend_pid)
            except Exception:  # a server elsewhere, a closed connection: no figure
                return 0.0

        def add(key: str, spent: float, cpu: float = 0.0) -> None:
            if on_main_thread():
                cls.total += spent
            else:
                cls.behind += spent
                key = f"(behind) {key}"
            if per_statement:
                entry = cls.by_statement.setdefault((cls.step, key), [0.0, 0, 0.0])
                entry[0] += spent
                entry[1] += 1
                entry[2] += cpu

        @contextmanager
        def around_call(cur, name: str, args: tuple):
            c = backend_cpu(cur) if per_statement else 0.0
            t = time.perf_counter()
            try:
                yield
            finally:
                spent = time.perf_counter() - t
                key = ""
                if per_statement:
                    key = " ".join(str(args[0] if args else name).split())[:110]
                    if name.startswith("fetch"):
                        key = " ".join(f"{name} after: {cur.query.decode(errors='replace')[:90] if cur.query else ''}".split())
                add(key, spent, backend_cpu(cur) - c if per_statement else 0.0)

        @contextmanager
        def around_connect():  # a new connection (a backend forked, authenticated) is database time too
            t = time.perf_counter()
            try:
                yield
            finally:
                add("(connect)", time.perf_counter() - t)

        @contextmanager
        def around_wait():  # the stage waiting for its reads and writes behind its work: database time
            t = time.perf_counter()
            try:
                yield
            finally:
                add("(waiting for the calls behind)", time.perf_counter() - t)

        patch_psycopg2(around_call, around_connect)
        patch_behind(around_wait)


def _peak_rss_mb() -> float:
    """The peak RSS of this process or of any of its finished children (the batch workers), in MB."""
    return max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024


def _batch_task(args: tuple) -> tuple[float, float, float]:
    """One batch of a stage in a worker process (as a Celery worker runs a mapped task instance): its wall
    time, the part inside psycopg2 or waiting for it, and the time of its calls behind its work."""
    from khabar.pipeline import run_stage

    dsn, stage, run, batch = args
    db0, behind0, t0 = DbClock.total, DbClock.behind, time.perf_counter()
    run_stage(dsn, stage, run, batch)
    return time.perf_counter() - t0, DbClock.total - db0, DbClock.behind - behind0


def one_size(
    n: int, landing: Path, profile: str | None, keep: bool, workers: int = 1, preload: bool = True, top_sql: int = 0
) -> dict:
    """Child process: every stage and gate on the landing zone the parent wrote, timed; the peak RSS
    is the pipeline's alone (the zone is generated in the parent). The batch stages run as news_ingest
    runs them: their batches (``--batch-size``, the mapped task instances), then the day-level finish.
    With ``workers`` 1 the batches run one after another in this process; with more, in that many forked
    processes (as that many Celery workers would), the finish in this one: a stage's seconds are then its
    wall time, its time in the database and its own work are summed over the processes. ``workers`` 0:
    each stage as one whole-day call (``run_stage`` without a batch). With ``preload`` the process first
    imports ``khabar.worker_preload`` (Great Expectations, the normalizer's tables), untimed, as each Celery
    worker does once at its start; without it the first gate pays GX's import and normalize the tables' load."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import psycopg2

    from khabar.pipeline import BATCH_STAGES, FINISH_FUNCTIONS, Run, run_finish, run_gate, run_stage

    tmp = Path(tempfile.mkdtemp(prefix="khabar_bench_"))
    name = f"khabar_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(SERVER)
    admin.autocommit = True
    admin.cursor().execute(f'create database "{name}"')
    dsn = with_db(SERVER, name)
    pool = None
    try:
        DbClock.install(per_statement=top_sql > 0)
        preload_s = None
        if preload:  # what a Celery worker imports once at its start (khabar.celery_config): not timed with the run
            t0 = time.perf_counter()
            import khabar.worker_preload  # noqa: F401

            preload_s = time.perf_counter() - t0
        # the warehouse's migrations, once per database as a deployment applies them (make airflow-db, or a
        # first run): not a cost of each day's run, which only checks them (that check stays timed, in ingest)
        from khabar.warehouse import apply_migrations

        t0 = time.perf_counter()
        apply_migrations(dsn)
        migrate_s = time.perf_counter() - t0
        run = Run(DAY, landing, quarantine_dir=tmp / "quarantine", airflow_run_id="bench")
        rows = []
        batches: list[int] = []
        for stage in STAGES:
            db0, behind0, t0 = DbClock.total, DbClock.behind, time.perf_counter()
            DbClock.step = stage
            busy = db_batches = behind_batches = 0.0
            if profile == stage:
                import cProfile
                import pstats

                prof = cProfile.Profile()
                result = prof.runcall(run_stage, dsn, stage, run)
                pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
                pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)
            elif workers > 0 and stage in BATCH_STAGES:
                jobs = [(dsn, stage, run, b) for b in batches]
                if workers > 1:
                    pool = pool or ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
                    done = list(pool.map(_batch_task, jobs))
                else:
                    done = [_batch_task(job) for job in jobs]
                busy = sum(t for t, _, _ in done)
                # the workers' time in psycopg2 is theirs; in this process DbClock.total has counted it already
                db_batches = sum(d for _, d, _ in done) if workers > 1 else 0.0
                behind_batches = sum(b for _, _, b in done) if workers > 1 else 0.0
                f0 = time.perf_counter()
                result = run_finish(dsn, stage, run) if stage in FINISH_FUNCTIONS else {"batches": len(done)}
                busy += time.perf_counter() - f0
            else:
                result = run_stage(dsn, stage, run)
            stage_s, stage_db = time.perf_counter() - t0, DbClock.total - db0 + db_batches
            stage_behind = DbClock.behind - behind0 + behind_batches
            if stage == "ingest":
                batches = result["batches"]
            t1, gate_db0 = time.perf_counter(), DbClock.total
            DbClock.step = f"{stage} gate"
            run_gate(dsn, stage, run)
            gate_s = time.perf_counter() - t1
            rows.append({"stage": stage, "seconds": stage_s, "db_seconds": stage_db, "behind_seconds": stage_behind,
                         "gate_seconds": gate_s,
                         "gate_db_seconds": DbClock.total - gate_db0,
                         "busy_seconds": busy or stage_s, "peak_rss_mb": _peak_rss_mb(),
                         "result": {k: v for k, v in result.items() if isinstance(v, int)}})
        if top_sql:  # this process' statements (with --workers 2 the batches' run in the workers: not here)
            cpu_steps = {}
            for step in dict.fromkeys(step for step, _ in DbClock.by_statement):
                mine = {k: v for (s, k), v in DbClock.by_statement.items() if s == step}
                spent_all = sum(v[0] for k, v in mine.items() if not k.startswith("(behind)"))
                behind_all = sum(v[0] for k, v in mine.items() if k.startswith("(behind)"))
                cpu_all = cpu_steps[step] = sum(v[2] for v in mine.values())
                print(f"\n   {step}: {spent_all:.2f}s inside psycopg2 or waiting for it (this process)"
                      + (f", {behind_all:.2f}s of calls behind the work" if behind_all else "")
                      + f", backend CPU {cpu_all:.2f}s;"
                      f" the {top_sql} longest statements (wall, calls, backend CPU):", file=sys.stderr)
                mine = sorted(((v, k) for (s, k), v in DbClock.by_statement.items() if s == step), key=lambda vk: -vk[0][0])
                for (spent, calls, cpu), key in mine[:top_sql]:
                    print(f"   {spent:8.2f}s {calls:6d}x {cpu:6.2f}s  {key}", file=sys.stderr)
            stages_cpu = sum(v for k, v in cpu_steps.items() if not k.endswith(" gate"))
            gates_cpu = sum(v for k, v in cpu_steps.items() if k.endswith(" gate"))
            print(f"\n   backend CPU (without parallel workers): stages {stages_cpu:.2f}s, gates {gates_cpu:.2f}s", file=sys.stderr)
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("select documents_seen, articles_loaded, duplicates, quarantined from reporting.runs")
            seen, articles, dups, quarantined = cur.fetchone()
        peak = _peak_rss_mb() * 1024
        return {"n": n, "stages": rows, "database": name if keep else None, "workers": workers, "batches": len(batches),
                "preload_s": preload_s, "migrate_s": migrate_s,
                "peak_rss_mb": peak / 1024,
                "runs_row": {"seen": seen, "articles": articles, "duplicates": dups, "quarantined": quarantined}}
    finally:
        if pool:
            pool.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
        if not keep:
            admin.cursor().execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", (name,))
            admin.cursor().execute(f'drop database if exists "{name}"')
        admin.close()


def airflow_run(landing: Path) -> dict:
    """``airflow dags test news_ingest`` on the same landing zone and a fresh database: its wall time
    (start-up included) and every task instance's duration from the metadata database."""
    import sqlite3

    import psycopg2

    tmp = Path(tempfile.mkdtemp(prefix="khabar_bench_af_"))
    name = f"khabar_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(SERVER)
    admin.autocommit = True
    admin.cursor().execute(f'create database "{name}"')
    try:
        env = os.environ | {
            "AIRFLOW_HOME": str(tmp / "airflow"), "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT / "plugins"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_CONN_NEWS_WAREHOUSE": with_db(SERVER, name), "NEWS_LANDING_DIR": str(landing),
            "NEWS_QUARANTINE_DIR": str(tmp / "quarantine"), "GX_ANALYTICS_ENABLED": "false",
            "PYTHONPATH": os.pathsep.join([str(PROJECT / "plugins"), str(PROJECT / "dags")]),
        }
        airflow = [sys.executable, "-m", "airflow"]
        t = time.perf_counter()
        subprocess.run([*airflow, "db", "migrate"], env=env, check=True, capture_output=True)
        migrate_s = time.perf_counter() - t
        t = time.perf_counter()
        out = subprocess.run([*airflow, "dags", "test", "news_ingest", DAY.isoformat()], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t
        ok = out.returncode == 0 and "state=success" in out.stdout + out.stderr
        tasks = []
        db = tmp / "airflow" / "airflow.db"
        if db.exists():
            with sqlite3.connect(db) as conn:
                tasks = [
                    {"task": task, "map_index": idx, "state": state, "seconds": dur or 0.0}
                    for task, idx, state, dur in conn.execute(
                        "select task_id, map_index, state, duration from task_instance order by start_date"
                    )
                ]
        return {"airflow_seconds": wall, "migrate_seconds": migrate_s, "success": ok, "tasks": tasks}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        admin.cursor().execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", (name,))
        admin.cursor().execute(f'drop database if exists "{name}"')
        admin.close()


def report(res: dict) -> None:
    n, stages = res["n"], res["stages"]
    # work: what the processes spent (summed over workers); wall: the stages' and gates' elapsed time
    own = sum(r["busy_seconds"] - r["db_seconds"] for r in stages)
    db = sum(r["db_seconds"] for r in stages)
    gates = sum(r["gate_seconds"] for r in stages)
    wall = sum(r["seconds"] for r in stages) + gates
    workers = res.get("workers", 1)
    mode = (f"{res['batches']} batches in {workers} worker processes" if workers > 1
            else f"{res['batches']} batches one after another in one process" if workers == 1
            else "one process, each stage as one whole-day call")
    print(f"\n== {n} documents, mix {res['mix']} {res['formats']} (landing written in {res['generate_s']:.1f}s); {mode}")
    print(f"   warehouse: {res['runs_row']}" + (f"; kept database {res['database']}" if res.get("database") else ""))
    print(f"   worker start-up (khabar.worker_preload, not timed below): {res['preload_s']:.1f}s" if res.get("preload_s")
          else "   no preload: the first gate imports Great Expectations, normalize loads the normalizer's tables")
    print(f"   the fresh warehouse's migrations (once per database, not timed below): {res['migrate_s']:.1f}s")
    # in DB: inside psycopg2 on the stage's thread, or waiting there for the calls behind its work; behind: those
    # calls' own time, on their thread, overlapping the stage's work (not part of the stage's time)
    print(f"   {'stage':<10}{'seconds':>9}{'docs/s':>9}{'in DB':>8}{'own work':>10}{'behind':>8}{'gate s':>8}{'peak MB':>9}")
    for r in stages:  # peak MB: the peak RSS so far, after the stage and its gate (the workers' included)
        print(f"   {r['stage']:<10}{r['seconds']:>9.2f}{n / r['seconds']:>9.0f}{r['db_seconds']:>8.2f}"
              f"{r['busy_seconds'] - r['db_seconds']:>10.2f}{r.get('behind_seconds', 0.0):>8.2f}{r['gate_seconds']:>8.2f}"
              f"{r.get('peak_rss_mb', 0):>9.0f}")
    behind = sum(r.get("behind_seconds", 0.0) for r in stages)
    print(f"   end to end {wall:.1f}s = {n / wall:.0f} docs/s; stages' own work {own:.1f}s, in psycopg2 {db:.1f}s"
          f" (and {behind:.1f}s of calls behind the stages' work),"
          f" gates {gates:.1f}s; outside the stages' own work {(db + gates) / (own + db + gates):.0%}"
          f"{' of the processes’ time' if workers > 1 else ''}; peak RSS {res['peak_rss_mb']:.0f} MB")
    # what the outside is made of: the stages' hand-offs through staging (each task reads what the one before it
    # wrote: XCom carries no text), the load's writes into the warehouse, the gates' SQL and the rest of the gates
    handoff = sum(r["db_seconds"] for r in stages if r["stage"] != "load")
    gate_db = sum(r.get("gate_db_seconds", 0.0) for r in stages)
    print(f"   outside, by kind: staging reads and writes of ingest..dedup {handoff:.1f}s, the load {db - handoff:.1f}s,"
          f" the gates' SQL {gate_db:.1f}s, the gates' Python (Great Expectations, Data Docs) {gates - gate_db:.1f}s")
    total = wall
    if "airflow" in res:
        af = res["airflow"]
        tasks = af["tasks"]
        busy = sum(t["seconds"] for t in tasks)
        print(f"   airflow dags test: {af['airflow_seconds']:.1f}s (success={af['success']}), vs {total:.1f}s in-process:"
              f" Airflow adds {af['airflow_seconds'] - total:.1f}s (start-up included; db migrate {af['migrate_seconds']:.1f}s not)")
        if tasks:
            print(f"   {len(tasks)} task instances ran {busy:.1f}s in all; {af['airflow_seconds'] - busy:.1f}s of the wall time"
                  f" was outside any task (start-up, parsing, scheduling); inside the tasks {busy - total:+.1f}s against"
                  f" the in-process stages and gates, {(busy - total) / len(tasks):+.2f}s a task")
            for t in tasks:
                label = t["task"] + (f"[{t['map_index']}]" if t["map_index"] is not None and t["map_index"] >= 0 else "")
                print(f"     {label:<34}{t['seconds']:>8.2f}s {t['state']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--mix", choices=["txt", "html", "json", "mixed"], default="mixed")
    ap.add_argument("--airflow", action="store_true", help="also time `airflow dags test` on the same landing zone")
    ap.add_argument("--profile", choices=STAGES, help="cProfile this stage (to stderr)")
    ap.add_argument("--workers", type=int, default=1,
                    help="run the batch stages' batches in this many processes (as Celery workers run mapped tasks);"
                         " 0: each stage as one whole-day call")
    ap.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="documents per batch (NEWS_BATCH_SIZE)")
    ap.add_argument("--no-preload", action="store_true",
                    help="do not import khabar.worker_preload first (a worker without khabar.celery_config)")
    ap.add_argument("--top-sql", type=int, default=0, metavar="K",
                    help="print the K statements that spent the most time inside psycopg2 (to stderr)")
    ap.add_argument("--keep", action="store_true", help="keep the warehouse database (for EXPLAIN ANALYZE); prints its name")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--landing", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not (SHARED / "corpus").is_dir():
        print(f"{SHARED / 'corpus'} is absent (KHABAR_SHARED_DIR points at ../shared)", file=sys.stderr)
        return 2
    os.environ["NEWS_BATCH_SIZE"] = str(args.batch_size)  # the in-process runs' and `airflow dags test`'s
    if args.one:
        print(json.dumps(one_size(
            args.one, args.landing, args.profile, args.keep, args.workers, not args.no_preload, args.top_sql
        )))
        return 0
    print(f"{datetime.now():%Y-%m-%d %H:%M} bench_pipeline, {os.cpu_count()} CPUs, server {SERVER.rsplit('@', 1)[-1]},"
          f" load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for n in args.sizes:
        tmp = Path(tempfile.mkdtemp(prefix="khabar_bench_zone_"))
        try:
            t = time.perf_counter()
            formats = write_landing(tmp / "landing", n, args.mix)
            generate_s = time.perf_counter() - t
            cmd = [sys.executable, __file__, "--one", str(n), "--landing", str(tmp / "landing")]
            cmd += ["--profile", args.profile] if args.profile else []
            cmd += ["--keep"] if args.keep else []
            cmd += ["--workers", str(args.workers), "--batch-size", str(args.batch_size)]
            cmd += ["--no-preload"] if args.no_preload else []
            cmd += ["--top-sql", str(args.top_sql)] if args.top_sql else []
            out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
            res = json.loads(out.stdout.strip().splitlines()[-1])
            res.update(mix=args.mix, formats=formats, generate_s=generate_s)
            if args.airflow:
                res["airflow"] = airflow_run(tmp / "landing")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        report(res)
        print(f"   (load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
