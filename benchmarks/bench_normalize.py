"""Half-space restoration and throughput: our normalizer against hazm's Normalizer alone.

Gold: every paragraph of ../shared/corpus (Fars and Varzesh3 records) that contains a ZWNJ, taken as
written. Input: the same paragraph with every ZWNJ removed ("joined": «همکاریهای») or replaced by a
space ("spaced": «همکاری های»). Each system normalizes the input; we score the ZWNJ positions it
writes against the gold ones.

Positions are counted on the letter skeleton (letters only, Arabic ي/ك folded), so digits,
punctuation and spacing that a normalizer rewrites do not shift them; when a normalizer changes the
letters themselves (repeated letters, ligatures) the skeletons are aligned with difflib.
A gold position is a ZWNJ with a letter on both sides. "visible" gold positions follow a joining
letter; a ZWNJ after a non-joining letter («کشور‌ها») changes nothing on screen and our normalizer
removes it by policy, so it is reported apart.

Files 1–2 of each outlet are the development split (the rules were looked at against them);
files 3–5 are held out.

Usage: PYTHONPATH=plugins python benchmarks/bench_normalize.py [--limit N] [--errors K]
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import statistics
import time
from collections import Counter
from pathlib import Path

ZWNJ = "\u200c"
# ../shared/corpus beside the checkout; a git worktree nested one level deeper looks one level up.
CORPUS = next(
    (p / "shared" / "corpus" for p in Path(__file__).resolve().parents[1:4] if (p / "shared" / "corpus").is_dir()),
    Path(__file__).resolve().parents[2] / "shared" / "corpus",
)
NON_JOINING = set("اآأإدذرزژوؤءة")
FOLD = str.maketrans("يكىة", "یکیه")
ARABIC = re.compile("[يك]")
# In the gold, a left-to-right or right-to-left mark between two letters stands for a ZWNJ («برنامه‎های»
# with U+200E): some outlets' editors type it; the input keeps it, only real ZWNJs are stripped.
HALF_SPACES = frozenset("\u200c\u200e\u200f\u00ad")
HAZM_DEFAULTS = (
    "correct_spacing=True, remove_diacritics=True, remove_specials_chars=True, decrease_repeated_chars=True, "
    "persian_style=True, persian_numbers=True, unicodes_replacement=True, seperate_mi=True"
)


def load_paragraphs(limit: int | None, legacy: bool = False) -> list[tuple[str, str]]:
    """(split, paragraph) for every distinct corpus paragraph that has a ZWNJ between letters and,
    unless ``legacy``, is written in Persian letters (no Arabic ي/ك: the older Fars items in the
    legacy encoding write the plural solid, «دادگاههاي», beside the odd ZWNJ)."""
    seen: set[str] = set()
    out = []
    for path in sorted(CORPUS.glob("*/*.json")):
        split = "dev" if path.stem.endswith(("-1", "-2")) else "held-out"
        for record in json.loads(path.read_text(encoding="utf-8")):
            for para in record.get("paragraphs") or []:
                if not isinstance(para, str) or para in seen or not (legacy or not ARABIC.search(para)):
                    continue
                if ZWNJ in para and gold_positions(para):
                    seen.add(para)
                    out.append((split, para))
    return out[:limit] if limit else out


def skeleton(text: str) -> tuple[str, list[int], list[bool], set[int]]:
    """Letters of ``text`` (folded); for each ZWNJ flanked by letters, the skeleton index after it
    and whether the letter before it joins; and the skeleton indices preceded by a space."""
    letters: list[str] = []
    zwnj_at: list[int] = []
    visible: list[bool] = []
    spaced: set[int] = set()
    for i, ch in enumerate(text):
        if ch in HALF_SPACES:
            # a run of marks counts once, where a letter is on both sides of the run
            j = i
            while j < len(text) and text[j] in HALF_SPACES:
                j += 1
            if 0 < i and j < len(text) and text[i - 1].isalpha() and text[j].isalpha():
                zwnj_at.append(len(letters))
                visible.append(text[i - 1].translate(FOLD) not in NON_JOINING)
        elif ch.isalpha():
            letters.append(ch.translate(FOLD))
        elif ch.isspace():
            spaced.add(len(letters))
    return "".join(letters), zwnj_at, visible, spaced


def gold_positions(text: str) -> list[int]:
    return skeleton(text)[1]


def score(gold: str, text: str, output: str) -> Counter:
    """Counts for one paragraph: gold positions (all, visible), written positions and correct ones,
    each also split by what the input had there: nothing («همکاریهای», a restoration) or a space
    («کتاب ها», a spacing correction)."""
    g_skel, g_pos, g_vis, _ = skeleton(gold)
    o_skel, o_pos, _, _ = skeleton(output)
    input_spaced = skeleton(text)[3]  # the input has the gold's letters: same skeleton indices
    if g_skel != o_skel:
        # map output letter indices to gold ones through the matching blocks
        index: dict[int, int] = {}
        for a, b, size in difflib.SequenceMatcher(None, g_skel, o_skel, autojunk=False).get_matching_blocks():
            for k in range(size):
                index[b + k] = a + k
        o_pos = [
            index[p] if p - 1 in index and p in index and index[p] == index[p - 1] + 1 else -1 - i
            for i, p in enumerate(o_pos)  # -1 - i: between letters the gold does not have: wrong
        ]
    gold_all = set(g_pos)
    gold_vis = {p for p, v in zip(g_pos, g_vis, strict=True) if v}
    c = Counter(gold_all=len(gold_all), gold_visible=len(gold_vis))
    for p in set(o_pos):
        kind = "space" if p in input_spaced else "joined"
        c["written"] += 1
        c[f"written_{kind}"] += 1
        if p in gold_all:
            c["correct"] += 1
            c[f"correct_{kind}"] += 1
            c["correct_visible"] += p in gold_vis
    return c


def _words(text: str) -> list[str]:
    return [w.translate(FOLD) for w in re.findall(r"[^\W\d_][\w\u200c]*", text)]


def _ratio(a: int, b: int) -> float:
    return a / b if b else float("nan")


def evaluate(system, pairs: list[tuple[str, str, str]], errors: int) -> dict:
    keys = ("gold_all", "gold_visible", "written", "written_joined", "written_space", "correct",
            "correct_joined", "correct_space", "correct_visible")
    total: Counter = Counter(dict.fromkeys(keys, 0))
    false_pos: Counter = Counter()
    for gold, text, _split in pairs:
        out = system(text)
        c = score(gold, text, out)
        total.update(c)
        if errors and c["written"] > c["correct"]:
            gold_words = set(_words(gold))
            false_pos.update(w for w in _words(out) if ZWNJ in w and w not in gold_words)
    return {
        **total,
        "precision": _ratio(total["correct"], total["written"]),
        "precision_joined": _ratio(total["correct_joined"], total["written_joined"]),
        "precision_space": _ratio(total["correct_space"], total["written_space"]),
        "recall_visible": _ratio(total["correct_visible"], total["gold_visible"]),
        "recall_all": _ratio(total["correct"], total["gold_all"]),
        "top_false": false_pos.most_common(errors),
    }


def throughput(systems: dict, texts: list[str], repeats: int = 5, before: dict | None = None) -> dict[str, float]:
    """Characters per second of each system, median of ``repeats`` passes; the systems' passes
    alternate, so a busy neighbour on the shared machine slows both alike."""
    chars = sum(len(t) for t in texts)
    times: dict[str, list[float]] = {name: [] for name in systems}
    for _ in range(repeats):
        for name, system in systems.items():
            if before and name in before:
                before[name]()
            start = time.perf_counter()
            for t in texts:
                system(t)
            times[name].append(time.perf_counter() - start)
    return {name: chars / statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="first N paragraphs only")
    parser.add_argument("--legacy", action="store_true", help="also score paragraphs in Arabic ي/ك (legacy)")
    parser.add_argument("--throughput-only", action="store_true", help="skip the restoration scores")
    parser.add_argument("--errors", type=int, default=0, help="print the K most frequent wrong half-space words")
    args = parser.parse_args()

    from hazm import Normalizer

    from khabar.normalize import HAZM_OPTIONS, normalize_text, normalizer

    start = time.perf_counter()
    hazm = Normalizer()
    hazm_build = time.perf_counter() - start
    start = time.perf_counter()
    normalizer()
    ours_build = time.perf_counter() - start

    paragraphs = load_paragraphs(args.limit, args.legacy)
    print(f"corpus: {CORPUS}")
    selection = "all, legacy Arabic ي/ك included" if args.legacy else "in Persian letters"
    print(f"paragraphs with a ZWNJ between letters ({selection}): {len(paragraphs)}"
          f" ({sum(len(p) for _, p in paragraphs)} characters)")
    print(f"hazm Normalizer(): default options: {HAZM_DEFAULTS}")
    options = ", ".join(f"{k}={v}" for k, v in HAZM_OPTIONS.items())
    print(f"ours: khabar.normalize.normalize_text (its tables and lexicon from one hazm Normalizer({options}))")
    systems = {"hazm Normalizer": hazm.normalize, "khabar normalize_text": normalize_text}
    for variant, repl in () if args.throughput_only else (("joined", ""), ("spaced", " ")):
        for split in ("dev", "held-out", "all"):
            pairs = [(p, p.replace(ZWNJ, repl), s) for s, p in paragraphs if split in ("all", s)]
            print(f"\n[{variant}, {split}: {len(pairs)} paragraphs]")
            for name, system in systems.items():
                r = evaluate(system, pairs, args.errors if split == "all" else 0)
                print(
                    f"  {name:22s} precision {r['precision']:.4f}  recall(visible) {r['recall_visible']:.4f}"
                    f"  recall(all) {r['recall_all']:.4f}  | written {r['written']} correct {r['correct']}"
                    f" gold visible {r['gold_visible']} gold all {r['gold_all']}\n"
                    f"  {'':22s} where the input had nothing: precision {r['precision_joined']:.4f}"
                    f" ({r['correct_joined']}/{r['written_joined']});"
                    f" where it had a space: precision {r['precision_space']:.4f} ({r['correct_space']}/{r['written_space']})"
                )
                if r["top_false"]:
                    print("    most frequent wrong:", ", ".join(f"{w} ×{n}" for w, n in r["top_false"]))
    texts = [p.replace(ZWNJ, "") for _, p in paragraphs]
    print(f"\nthroughput on the joined text ({sum(map(len, texts))} characters, median of 5 alternating passes):")
    print(f"  build: hazm Normalizer() {hazm_build:.2f} s, ours {ours_build:.2f} s (once per process)")
    # our per-token cache is emptied before every pass: each pass starts cold, as a new process would
    cold = {"khabar normalize_text": normalizer()._cache.clear}
    for name, cps in throughput(systems, texts, before=cold).items():
        print(f"  {name:22s} {cps:,.0f} characters/s")

if __name__ == "__main__":
    main()
