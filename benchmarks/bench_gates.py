"""Where a gate's time goes, phase by phase: each stage's gate (``run_gate``: vacuum, then
``validate_stage``) run on a database kept by ``bench_pipeline.py --keep``, repeated; the median of each
phase: the vacuum of staging.documents, Great Expectations' set-up (context, datasource, asset, suite,
validation definition, checkpoint; with run_gate's lock and staging check), the expectations' SQL (every
statement GX sends while it validates), the rest of the validation (GX in Python), storing the result in
reporting.gate_results, and the Data Docs render (GX's checkpoint action).

Each phase is timed by wall clock and by CPU: this process's plus that of the PostgreSQL backends that ran
its statements (read from /proc, so the server must run on this machine). CPU is what a busy shared
machine changes least. The first gate of the process (GX's first context) is run once and not counted.

    PYTHONPATH=plugins python benchmarks/bench_gates.py khabar_bench_1234abcd [--repeat 3] [--top 4] [stage ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "plugins"))
SERVER = os.environ.get("KHABAR_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TICK = os.sysconf("SC_CLK_TCK")
STAGES = ("ingest", "strip", "normalize", "date_tag", "dedup", "load")
PHASES = ("vacuum", "gx set-up", "expectations' SQL", "gx validation", "store result", "data docs")
SETUP = "gx set-up"


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Clock:
    """Wall and CPU seconds by phase for the gate running now; SQL statements by text."""

    def __init__(self) -> None:
        self.phase = ""  # outside any gate
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.statements: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])

    def reset(self) -> None:
        self.wall.clear()
        self.cpu.clear()
        self.statements.clear()

    @contextmanager
    def entered(self, phase: str):
        """Time spent inside is ``phase``'s (not the enclosing phase's)."""
        outer, self.phase = self.phase, phase
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            self.wall[phase] += wall
            self.cpu[phase] += cpu
            self.wall[outer] -= wall
            self.cpu[outer] -= cpu
            self.phase = outer

    def wrap(self, owner, name: str, phase: str) -> None:
        inner = getattr(owner, name)

        def timed(*a, **k):
            with self.entered(phase):
                return inner(*a, **k)

        setattr(owner, name, timed)

    def install_sql(self) -> None:
        """Every psycopg2 statement (GX's through SQLAlchemy too) counts, while validating, as the
        expectations' SQL; in every phase its backend's CPU is added to the phase's."""
        from psycopg_timing import patch_psycopg2

        clock = self

        @contextmanager
        def around_call(cur, name: str, args: tuple):
            pid = cur.connection.info.backend_pid
            wall, cpu = time.perf_counter(), backend_cpu(pid)
            try:
                yield
            finally:
                wall, cpu = time.perf_counter() - wall, backend_cpu(pid) - cpu
                if clock.phase != "gx validation":
                    clock.cpu[clock.phase] += cpu
                else:
                    clock.wall["gx validation"] -= wall
                    clock.wall["expectations' SQL"] += wall
                    clock.cpu["expectations' SQL"] += cpu
                    text = cur.query.decode(errors="replace") if cur.query else str(args[0] if args else name)
                    entry = clock.statements[" ".join(text.split())]
                    entry[0] += wall
                    entry[1] += cpu

        patch_psycopg2(around_call)


def pair(cell) -> str:
    wall, cpu = cell
    return f"{wall:.2f} / {cpu:.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("database")
    ap.add_argument("stages", nargs="*", default=list(STAGES))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--top", type=int, default=4, help="the longest statements shown per gate (by CPU)")
    args = ap.parse_args()

    clock = Clock()
    clock.install_sql()
    from great_expectations.checkpoint.checkpoint import Checkpoint
    from great_expectations.validator.validator import Validator

    from khabar import gates, pipeline
    from khabar.pipeline import Run

    clock.wrap(Validator, "graph_validate", "gx validation")
    clock.wrap(Checkpoint, "_run_actions", "data docs")
    clock.wrap(pipeline, "vacuum_staging", "vacuum")
    store = gates.transaction

    @contextmanager
    def timed_store(*a, **k):  # validate_stage's own transaction: the insert into reporting.gate_results
        with clock.entered("store result"), store(*a, **k) as cur:
            yield cur

    gates.transaction = timed_store

    dsn = urlunsplit(urlsplit(SERVER)._replace(path=f"/{args.database}"))
    run = Run(date(2022, 1, 25), PROJECT)  # the benchmark's day; a gate does not read the landing zone
    pipeline.run_gate(dsn, "load", run)  # the process's first gate: GX's first context, the templates' cache
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; Data Docs {os.environ.get('NEWS_DATA_DOCS_DIR') or 'on'};"
          f" median of {args.repeat}; each cell: wall s / CPU s (this process + its PostgreSQL backends)")
    width = {p: max(len(p), 11) + 2 for p in PHASES}
    print(f"   {'gate':<10}{'total':>13}" + "".join(f"{p:>{width[p]}}" for p in PHASES))
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    details = {}
    for stage in args.stages:
        runs = []
        for _ in range(args.repeat):
            clock.reset()
            with clock.entered(SETUP):
                pipeline.run_gate(dsn, stage, run)
            runs.append(({p: clock.wall[p] for p in PHASES}, {p: clock.cpu[p] for p in PHASES}, {k: tuple(v) for k, v in clock.statements.items()}))
        cells = {}
        for p in PHASES:
            cells[p] = (statistics.median(r[0].get(p, 0.0) for r in runs), statistics.median(r[1].get(p, 0.0) for r in runs))
        cells["total"] = (statistics.median(sum(r[0].values()) for r in runs), statistics.median(sum(r[1].values()) for r in runs))
        for k, (w, c) in cells.items():
            sums[k][0] += w
            sums[k][1] += c
        details[stage] = runs[-1][2]
        print(f"   {stage:<10}{pair(cells['total']):>13}" + "".join(f"{pair(cells[p]):>{width[p]}}" for p in PHASES))
    print(f"   {'all':<10}{pair(sums['total']):>13}" + "".join(f"{pair(sums[p]):>{width[p]}}" for p in PHASES))
    for stage, statements in details.items() if args.top else ():
        print(f"\n   {stage} gate, the {args.top} costliest statements (last repeat, wall / backend CPU):")
        for statement, (wall, cpu) in sorted(statements.items(), key=lambda x: -x[1][1])[: args.top]:
            print(f"     {wall:5.2f} / {cpu:5.2f}s  {statement[:140]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
