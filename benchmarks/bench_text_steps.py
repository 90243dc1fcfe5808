"""The text steps of this checkout against the same modules at an earlier commit, on the same inputs:
``normalize_text`` and ``find_dates`` on corpus bodies (``../shared/corpus``), ``extract_html`` on the pages
``bench_pipeline.py`` renders. Prints each side's time and how many outputs differ (the speed-ups must
change nothing). The earlier modules are read with ``git show REV:plugins/khabar/<module>.py``.

    PYTHONPATH=plugins python benchmarks/bench_text_steps.py --rev 8e731d1 [--bodies 4000] [--pages 1000]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "plugins"))
sys.path.insert(0, str(PROJECT / "benchmarks"))


def old_module(rev: str, name: str, tmp: Path):
    source = subprocess.run(["git", "-C", str(PROJECT), "show", f"{rev}:plugins/khabar/{name}.py"],
                            capture_output=True, text=True, check=True).stdout
    path = tmp / f"old_{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"old_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def timed(fn, items):
    t = time.perf_counter()
    out = [fn(x) for x in items]
    return time.perf_counter() - t, out


def main() -> int:
    import bench_pipeline as bench

    from khabar import dates, normalize, strip

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rev", default="8e731d1")
    ap.add_argument("--bodies", type=int, default=4000)
    ap.add_argument("--pages", type=int, default=1000)
    args = ap.parse_args()
    records = bench.corpus_records()
    bodies = ["\n".join(r["paragraphs"]) for r in records[: args.bodies]]
    rng = random.Random(3)
    pages = [bench.render_html(d, rng) for d in bench.documents(args.pages, records, rng)]
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; {len(bodies)} bodies, {len(pages)} pages; {args.rev} against this checkout")
    with tempfile.TemporaryDirectory() as tmp:
        old_n, old_d, old_s = (old_module(args.rev, m, Path(tmp)) for m in ("normalize", "dates", "strip"))
        before, after = old_n.PersianNormalizer(), normalize.PersianNormalizer()
        for label in ("cold", "warm"):  # warm: the second pass, words already respelled
            t_old, a = timed(before.normalize, bodies)
            t_new, b = timed(after.normalize, bodies)
            print(f"normalize ({label}): {t_old:.2f}s -> {t_new:.2f}s; differ: {sum(x != y for x, y in zip(a, b, strict=True))}")
        ref = date(2022, 1, 25)

        def mentions(find):
            return lambda text: [(m.start, m.end, m.surface, m.day, m.calendar, m.kind, m.hour, m.minute, m.weekday_ok,
                                  m.stated_weekday, m.confidence) for m in find(text, reference=ref)]

        mentions(old_d.find_dates)("x"), mentions(dates.find_dates)("x")  # tables and patterns built
        t_old, a = timed(mentions(old_d.find_dates), bodies)
        t_new, b = timed(mentions(dates.find_dates), bodies)
        print(f"find_dates: {t_old:.2f}s -> {t_new:.2f}s; differ: {sum(x != y for x, y in zip(a, b, strict=True))}"
              f" ({sum(map(len, a))} mentions)")

        def page(extract):
            return lambda html: (lambda p: (p.lines, p.meta, p.removed))(extract(html))

        t_old, a = timed(page(old_s.extract_html), pages)
        t_new, b = timed(page(strip.extract_html), pages)
        print(f"extract_html: {t_old:.2f}s -> {t_new:.2f}s; differ: {sum(x != y for x, y in zip(a, b, strict=True))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
