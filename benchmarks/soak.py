"""Soak: many simulated days of a hostile landing zone through the whole pipeline, then an audit
of the warehouse against what was written. Not a test: run it by hand (``make soak``).

Every day gets a mix of good files (UTF-8, BOM, UTF-16 LE/BE, Windows-1256, HTML, JSON arrays,
JSONL), files with bad records, exact copies of earlier files (same day and earlier days), and
junk (empty, binary, undecodable, head-only HTML, over the size limit, unsupported type, symlink
loops, symlinks out of the root); a few loose files sit at the root, dated by their mtime. Each day
runs through ``khabar.pipeline.run_day`` (all stages and gates, no Airflow). The audit reads the
warehouse back and reports files in, articles out, quarantined, lost and duplicated (both must be
0), outcomes that differ from what the generator intended, and whether re-running days changed
any row.

    PYTHONPATH=plugins python benchmarks/soak.py --days 20 --files-per-day 150
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import psycopg2

from khabar.ingest import TEHRAN
from khabar.pipeline import Run, run_day

WORDS = (
    "دولت مجلس وزیر رئیس جمهور اقتصاد بازار قیمت نفت گاز برق آب سد باران برف جاده ترافیک تهران اصفهان شیراز مشهد تبریز"
    " مدرسه دانشگاه دانشجو معلم بیمارستان پزشک واکسن کرونا فوتبال استقلال پرسپولیس لیگ بازیکن مربی جام گزارش خبرنگار"
    " نشست کمیسیون بودجه مالیات صادرات واردات گمرک بندر کشاورزی گندم برنج پالایشگاه پتروشیمی صنعت خودرو مسکن اجاره"
).split()
LIMIT = 64 * 1024  # the soak's max_file_bytes: over-limit files stay small enough to write thousands


class Landing:
    """Writes one day's files and remembers what each should become."""

    def __init__(self, root: Path, rng: random.Random) -> None:
        self.root, self.rng = root, rng
        self.serial = 0
        # (source_path, record_index) -> intended outcome: article | duplicate | quarantined
        self.intended: dict[tuple[str, int], str] = {}
        self.files: dict[str, str] = {}  # source_path -> intended file outcome
        self.originals: list[bytes] = []  # bytes of good single-article files, for later exact copies

    def body(self) -> str:
        self.serial += 1
        rng, n = self.rng, self.serial
        lines = [f"عنوان خبر {n} درباره {rng.choice(WORDS)}"]
        for p in range(3):
            lines.append(" ".join(f"{rng.choice(WORDS)}{'' if rng.random() < 0.7 else n * 10 + p}" for _ in range(25)) + f" کد {n}-{p}.")
        return "\n".join(lines)

    def put(self, rel: str, data: bytes | None, outcome: str, records: dict[int, str] | None = None) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if data is not None:
            path.write_bytes(data)
        self.files[rel] = outcome
        for index, what in (records or {-1 if outcome == "quarantined" else 0: "article" if outcome == "loaded" else outcome}).items():
            self.intended[(rel, index)] = what
        return path

    def write_day(self, day: date, count: int) -> None:
        rng, part = self.rng, day.isoformat()
        kinds = rng.choices(
            ["txt", "bom", "utf16le", "utf16be", "cp1256", "html", "html_truncated", "json", "jsonl", "copy_same_day",
             "copy_earlier", "empty", "binary", "latin1", "head_only", "too_large", "unsupported", "loop", "outside",
             "persian_name", "loose"],
            weights=[20, 4, 3, 3, 4, 8, 3, 5, 6, 3, 3, 2, 3, 2, 2, 1, 1, 1, 1, 3, 2],
            k=count,
        )
        today: list[bytes] = []
        for i, kind in enumerate(kinds):
            rel = f"{part}/{kind}_{i:04d}"
            if kind in ("txt", "persian_name"):
                data = self.body().encode()
                name = f"{part}/گزارش خبر {i} از {rng.choice(WORDS)}.txt" if kind == "persian_name" else f"{rel}.txt"
                self.put(name, data, "loaded")
                if kind == "txt":  # copies are named zz_*: after their original, which stays the article
                    today.append(data)
            elif kind == "bom":
                self.put(f"{rel}.txt", b"\xef\xbb\xbf" + self.body().encode(), "loaded")
            elif kind in ("utf16le", "utf16be"):
                codec = "utf-16-" + kind[-2:]
                self.put(f"{rel}.txt", self.body().encode(codec), "loaded")
            elif kind == "cp1256":
                text = self.body().replace("ی", "ي").replace("\u200c", " ")
                self.put(f"{rel}.txt", text.encode("cp1256"), "loaded")
            elif kind in ("html", "html_truncated"):
                paras = "".join(f"<p>{line}</p>" for line in self.body().split("\n")[1:])
                page = f"<html><head><title>خبر</title></head><body><nav>منو</nav><article>{paras}</article>"
                page += '<div class="rel' if kind == "html_truncated" else "</body></html>"
                self.put(f"{rel}.html", page.encode(), "loaded")
            elif kind == "json":
                records = [{"title": "خبر", "paragraphs": self.body().split("\n")[1:]} for _ in range(rng.randint(1, 4))]
                self.put(f"{rel}.json", json.dumps(records, ensure_ascii=False).encode(), "loaded",
                         dict.fromkeys(range(len(records)), "article"))
            elif kind == "jsonl":
                lines, plan = [], {}
                for index in range(rng.randint(2, 6)):
                    fault = rng.random()
                    if fault < 0.15:
                        lines.append('{"title": "بریده", "body": "متن')  # cut mid-record
                        plan[index] = "quarantined"
                    elif fault < 0.25:
                        lines.append(json.dumps({"title": "بی‌متن", "tags": ["x"]}, ensure_ascii=False))
                        plan[index] = "quarantined"
                    else:
                        lines.append(json.dumps({"title": "خبر", "body": self.body()}, ensure_ascii=False))
                        plan[index] = "article"
                if "article" not in plan.values():
                    lines.append(json.dumps({"title": "خبر", "body": self.body()}, ensure_ascii=False))
                    plan[len(lines) - 1] = "article"
                self.put(f"{rel}.jsonl", "\n".join(lines).encode(), "loaded", plan)
            elif kind == "copy_same_day" and today:
                self.put(f"{part}/zz_copy_{i:04d}.txt", rng.choice(today), "duplicate")
            elif kind == "copy_earlier" and self.originals:
                self.put(f"{rel}_again.txt", rng.choice(self.originals), "duplicate")
            elif kind == "empty":
                self.put(f"{rel}.txt", b"", "quarantined")
            elif kind == "binary":
                self.put(f"{rel}.txt", b"\x89PNG\r\n\x1a\n" + rng.randbytes(600), "quarantined")
            elif kind == "latin1":
                self.put(f"{rel}.txt", f"Les élèves n°{i} ont participé à l'exercice.".encode("latin-1"), "quarantined")
            elif kind == "head_only":
                self.put(f"{rel}.html", b"<html><head><title>x</title><script>var a = 1;</script></head></html>", "quarantined",
                         {0: "quarantined"})  # quarantined by the strip stage, as document 0
            elif kind == "too_large":
                self.put(f"{rel}.txt", (self.body() + "\n").encode() * (LIMIT // 1000 + 50), "quarantined")
            elif kind == "unsupported":
                self.put(f"{rel}.pdf", b"%PDF-1.4 " + rng.randbytes(200), "quarantined")
            elif kind == "loop":
                link = self.put(f"{rel}_loop.txt", None, "quarantined")
                link.symlink_to(link)
            elif kind == "outside":
                outside = self.root.parent / "outside.txt"
                outside.write_text(self.body(), encoding="utf-8")
                self.put(f"{rel}_outside.txt", None, "quarantined").symlink_to(outside)
            elif kind == "loose":
                path = self.put(f"loose_{part}_{i:04d}.txt", self.body().encode(), "loaded")
                noon = datetime.combine(day, datetime.min.time(), tzinfo=TEHRAN).replace(hour=12).timestamp()
                os.utime(path, (noon, noon))
            else:  # a copy with nothing to copy yet: a plain good file instead
                data = self.body().encode()
                self.put(f"{rel}.txt", data, "loaded")
                today.append(data)
        self.originals += today


def query(dsn: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def checksum(dsn: str) -> str:
    digest = hashlib.sha256()
    for table in ("articles", "stories", "quarantine", "duplicates", "stripped_lines", "files", "lsh_bands", "dedup_decisions"):
        for (row,) in query(dsn, f"select t::text from reporting.{table} t order by 1"):
            digest.update(row.encode())
    return digest.hexdigest()


def audit(dsn: str, landing: Landing, qdir: Path) -> dict:
    articles = query(dsn, "select source_path, record_index, body_hash from reporting.articles")
    dups = query(dsn, "select source_path, record_index from reporting.duplicates")
    quarantine = query(dsn, "select source_path, record_index, sha256, evidence_path from reporting.quarantine")
    files = dict(query(dsn, "select source_path, outcome from reporting.files"))
    seen: Counter = Counter()
    observed: dict[tuple[str, int], str] = {}
    for path, index, _ in articles:
        seen[(path, index)] += 1
        observed[(path, index)] = "article"
    for path, index in dups:
        seen[(path, index)] += 1
        observed[(path, index)] = "duplicate"
    for path, index, _, _ in quarantine:
        seen[(path, index)] += 1
        observed[(path, index)] = "quarantined"
    lost_files = [p for p in landing.files if files.get(p) is None]
    # a document is lost when neither it nor (for whole-file rejections) its file is accounted for
    lost_docs = [k for k in landing.intended if k not in observed and (k[0], -1) not in observed]
    recorded_twice = [k for k, n in seen.items() if n > 1]
    same_body = [h for h, n in Counter(h for _, _, h in articles).items() if n > 1]
    evidence_missing = [
        p for p, i, sha, ev in quarantine
        if i == -1 and sha and not (ev and (qdir / ev).is_file() and hashlib.sha256((qdir / ev).read_bytes()).hexdigest() == sha)
    ]
    runs = query(dsn, "select sum(files_discovered), sum(files_loaded), sum(files_duplicate), sum(files_quarantined),"
                      " sum(documents_seen), count(*) filter (where files_discovered <> files_loaded + files_duplicate"
                      " + files_quarantined or documents_seen <> articles_loaded + duplicates + quarantined) from reporting.runs")[0]
    unexpected = Counter(
        f"{want}->{observed.get(k) or observed.get((k[0], -1)) or 'lost'}"
        for k, want in landing.intended.items()
        if (observed.get(k) or observed.get((k[0], -1))) != want
    )
    unexpected_files = Counter(f"{want}->{files.get(p)}" for p, want in landing.files.items() if files.get(p) != want)
    return {
        "files_in": len(landing.files),
        "files_discovered": int(runs[0]),
        "files_loaded": int(runs[1]),
        "files_duplicate": int(runs[2]),
        "files_quarantined": int(runs[3]),
        "documents_in": int(runs[4]),
        "articles_out": len(articles),
        "duplicates": len(dups),
        "quarantined_rows": len(quarantine),
        "quarantined_records": sum(1 for _, i, _, _ in quarantine if i >= 0),
        "lost_files": len(lost_files),
        "lost_documents": len(lost_docs),
        "duplicated_records": len(recorded_twice),
        "duplicated_articles_same_body": len(same_body),
        "unbalanced_runs": int(runs[5]),
        "quarantined_files_without_evidence": len(evidence_missing),
        "document_outcomes_not_as_intended": dict(unexpected),
        "file_outcomes_not_as_intended": dict(unexpected_files),
        "gate_failures": query(dsn, "select count(*) from reporting.gate_results where not success")[0][0],
        # left open by this process after all those days and gates (the audit's own connection excluded)
        "idle_connections_left": query(
            dsn, "select count(*) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()"
        )[0][0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--files-per-day", type=int, default=150)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server; a fresh database is created on it and dropped afterwards")
    parser.add_argument("--rerun-every", type=int, default=5, help="re-run every Nth day at the end (idempotency)")
    args = parser.parse_args()

    name = f"khabar_soak_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(args.server)
    admin.autocommit = True
    admin.cursor().execute(f'create database "{name}"')
    dsn = args.server.rsplit("/", 1)[0] + f"/{name}"
    work = Path(tempfile.mkdtemp(prefix="khabar_soak_"))
    try:
        root, qdir = work / "landing", work / "quarantine"
        root.mkdir()
        landing = Landing(root, random.Random(args.seed))
        days = [date(2023, 3, 1) + timedelta(days=i) for i in range(args.days)]
        started = time.perf_counter()
        failed_days = []
        for day in days:
            landing.write_day(day, args.files_per_day)
            t0 = time.perf_counter()
            try:
                out = run_day(dsn, Run(day, root, max_file_bytes=LIMIT, quarantine_dir=qdir))
                print(f"{day}: {out['load']['files']} files, {out['load']['articles']} articles,"
                      f" {out['load']['files_quarantined']} files quarantined ({time.perf_counter() - t0:.1f} s)", flush=True)
            except Exception as exc:  # report and go on: the audit shows what it cost
                failed_days.append(day.isoformat())
                print(f"{day}: FAILED {type(exc).__name__}: {exc}", flush=True)
        elapsed = time.perf_counter() - started
        report = audit(dsn, landing, qdir)
        before = checksum(dsn)
        rerun = days[:: args.rerun_every]
        for day in rerun:
            run_day(dsn, Run(day, root, max_file_bytes=LIMIT, quarantine_dir=qdir), gate=False)
        report["rerun_days"] = len(rerun)
        report["rerun_changed_rows"] = before != checksum(dsn)
        report["failed_days"] = failed_days
        report["days"] = args.days
        report["seconds"] = round(elapsed, 1)
        print(json.dumps(report, ensure_ascii=False, indent=2))
        ok = not (report["lost_files"] or report["lost_documents"] or report["duplicated_records"]
                  or report["duplicated_articles_same_body"] or report["unbalanced_runs"] or failed_days
                  or report["rerun_changed_rows"])
        print("SOAK", "PASSED" if ok else "FAILED")
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
        with admin.cursor() as cur:
            cur.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", (name,))
            cur.execute(f'drop database if exists "{name}"')
        admin.close()


if __name__ == "__main__":
    sys.exit(main())
