"""Quality of near-duplicate story clustering on the labelled set (tests/data/dedup/), ours beside
datasketch's MinHashLSH at its defaults, side by side; ``--sweep`` chooses the thresholds on the dev
split. Prints measured numbers; run by hand:

    PYTHONPATH=plugins benchmarks/bench_dedup.py [--shared ../shared] [--sweep]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections import Counter
from math import comb
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "plugins"))
sys.path.insert(0, str(PROJECT / "tests" / "data" / "dedup"))

from labelled_set import build  # noqa: E402

from khabar.dedup import BANDS, DedupSettings, band_keys, cluster_texts, compare, minhash, shingles  # noqa: E402


def pairwise(truth: dict[str, str], pred: dict[str, str]) -> dict[str, float]:
    """Pairwise precision, recall, F1 (pairs put in one cluster) and the adjusted Rand index."""
    from sklearn.metrics import adjusted_rand_score

    ids = sorted(truth)
    both = Counter((truth[i], pred[i]) for i in ids)
    tp = sum(comb(n, 2) for n in both.values())
    pred_pairs = sum(comb(n, 2) for n in Counter(pred[i] for i in ids).values())
    true_pairs = sum(comb(n, 2) for n in Counter(truth[i] for i in ids).values())
    p = tp / pred_pairs if pred_pairs else 1.0
    r = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    ari = adjusted_rand_score([truth[i] for i in ids], [pred[i] for i in ids])
    return {"precision": p, "recall": r, "f1": f1, "ari": ari, "pred_pairs": pred_pairs, "true_pairs": true_pairs}


def datasketch_clusters(texts: dict[str, str]) -> dict[str, str]:
    """MinHashLSH at its defaults (threshold 0.5, num_perm 128) on whitespace word 5-grams, no folding;
    clusters are the connected components of the query results."""
    from datasketch import MinHash, MinHashLSH

    lsh, sigs = MinHashLSH(threshold=0.5, num_perm=128), {}
    for doc_id, text in texts.items():
        words = text.split()
        grams = {" ".join(words[i : i + 5]) for i in range(max(1, len(words) - 4))}
        m = MinHash(num_perm=128)
        for g in grams:
            m.update(g.encode("utf-8"))
        sigs[doc_id] = m
        lsh.insert(doc_id, m)
    parent = {d: d for d in texts}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for doc_id, m in sigs.items():
        for other in lsh.query(m):
            a, b = find(doc_id), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {d: find(d) for d in texts}


def pipeline_texts(items) -> dict[str, str]:
    """What the dedup stage sees: furniture stripped (khabar.strip) and hazm-normalized."""
    from khabar.document import Document
    from khabar.normalize import normalize_text
    from khabar.strip import Stripper

    stripper, out = Stripper(), {}
    for it in items:
        if it.kind == "seed":  # already stripped and normalized by the builder
            out[it.item_id] = it.text
            continue
        doc = stripper.strip_document(Document("d", "f", "x.txt", 0, "txt", it.text))
        out[it.item_id] = normalize_text(doc.stripped_text or "")
    return out


def per_edit_recall(items, pred: dict[str, str]) -> dict[str, str]:
    """For each edit: copies put in their original's cluster; for negatives: kept apart from the record."""
    by_cluster = {it.cluster: it.item_id for it in items if (it.kind == "original" and it.item_id == it.cluster) or it.item_id == "seed/000"}
    hits: dict[str, list[bool]] = {}
    for it in items:
        if it.kind in ("original", "seed") or it.kind.endswith("negative"):
            continue
        for kind in it.kind.split("+"):
            hits.setdefault(kind, []).append(pred[it.item_id] == pred[by_cluster[it.cluster]])
    return {k: f"{sum(v)}/{len(v)}" for k, v in sorted(hits.items())}


def report(name: str, items, pred: dict[str, str], seconds: float) -> None:
    truth = {it.item_id: it.cluster for it in items}
    m = pairwise(truth, pred)
    seeds = {it.item_id[-3:]: pred[it.item_id] for it in items if it.kind == "seed"}
    seed_ok = (
        "yes" if seeds and seeds["000"] == seeds["001"] and len({seeds[k] for k in ("000", "002", "003", "004")}) == 4 else "NO"
    )
    size = Counter(pred.values())
    merged = Counter(it.kind for it in items if it.kind.endswith("negative") and size[pred[it.item_id]] > 1)
    negatives = merged["negative"]
    harder = {k: f"{merged[k]}/{n}" for k, n in sorted(Counter(it.kind for it in items).items()) if k.endswith("_negative")}
    print(
        f"  {name:<34} P={m['precision']:.3f} R={m['recall']:.3f} F1={m['f1']:.3f} ARI={m['ari']:.3f}"
        f"  pairs pred/true={m['pred_pairs']}/{m['true_pairs']}  seeds ok={seed_ok}"
        f"  negatives merged={negatives}  {seconds:.2f}s"
    )
    if harder:
        print(f"    harder negatives put in a story with another item: {harder}")
    print(f"    per edit (copies joined to their original): {per_edit_recall(items, pred)}")


def margins(items, sets, sims, truth) -> None:
    """Where the thresholds sit: the most similar different-story candidates, the weakest copies."""
    diff = sorted((sim.containment, sim.jaccard) for p, sim in sims.items() if truth[p[0]] != truth[p[1]])
    same = sorted(
        (max(x.jaccard / 0.5, x.containment / 0.6), x.jaccard, x.containment, it.kind)
        for it in items
        if it.kind not in ("original", "seed") and not it.kind.endswith("negative")
        for x in [compare(sets[it.item_id], sets[it.cluster])]
    )
    print(f"  64x2 candidates of different stories: {len(diff)}; top (containment, jaccard): {[(round(c, 3), round(j, 3)) for c, j in diff[-5:]]}")
    print(f"  weakest copies vs their original (jaccard, containment, edit): {[(round(j, 3), round(c, 3), k) for _, j, c, k in same[:6]]}")


def sweep(items, items_shared: Path) -> None:
    """Thresholds × banding on the dev split: F1 and candidate pairs verified."""
    texts = pipeline_texts(items)
    truth = {it.item_id: it.cluster for it in items}
    sets = {d: shingles(t) for d, t in texts.items()}
    sigs = {d: minhash(s) for d, s in sets.items()}
    print("sweep on the dev split (pipeline text): bands x rows, jaccard_min, containment_min -> P R F1 ARI, candidates")
    best = None
    for bands in (64, 32, 16):
        buckets: dict[int, list[str]] = {}
        for d in texts:
            for k in band_keys(sigs[d], bands):
                buckets.setdefault(k, []).append(d)
        pairs = {(a, b) for ids in buckets.values() for a, b in itertools.combinations(ids, 2)}
        sims = {p: compare(sets[p[0]], sets[p[1]]) for p in pairs}
        if bands == 64:
            margins(items, sets, sims, truth)
        for jmin, cmin in itertools.product((0.3, 0.4, 0.5, 0.6, 0.7), (0.5, 0.6, 0.7, 0.8, 0.9, 1.01)):
            s = DedupSettings(jmin, cmin)
            from khabar.dedup import assign_stories

            edges = [p for p, sim in sims.items() if sim.jaccard >= s.jaccard_min or sim.containment >= s.containment_min]
            stories, _ = assign_stories(list(texts), edges, [])
            m = pairwise(truth, stories)
            print(
                f"  {bands:>2}x{128 // bands:<2} j>={jmin:.1f} c>={cmin:.2f}  P={m['precision']:.3f} R={m['recall']:.3f}"
                f" F1={m['f1']:.3f} ARI={m['ari']:.3f}  candidates={len(pairs)}"
            )
            key = (round(m["f1"], 3), -len(pairs))
            if best is None or key > best[0]:
                best = (key, bands, jmin, cmin)
    seeds = build(items_shared, "test")
    seed_sets = {it.item_id[-3:]: shingles(it.text) for it in seeds if it.kind == "seed"}
    for a, b in itertools.combinations(sorted(seed_sets), 2):
        sim = compare(seed_sets[a], seed_sets[b])
        print(f"  seeds {a}-{b}: jaccard={sim.jaccard:.3f} containment={sim.containment:.3f}")
    print(f"  best F1 (ties: fewer candidates): {best[1]}x{128 // best[1]} j>={best[2]} c>={best[3]} F1={best[0][0]}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", type=Path, default=PROJECT.parent / "shared")
    ap.add_argument("--sweep", action="store_true", help="choose thresholds on the dev split first")
    args = ap.parse_args()
    if args.sweep:
        sweep(build(args.shared, "dev"), args.shared)
    items = build(args.shared, "test")
    print(
        f"labelled test split: {len(items)} items, {len({it.cluster for it in items})} clusters,"
        f" {sum(1 for it in items if it.kind == 'negative')} hard negatives, {sum(1 for it in items if it.kind == 'seed')} seeds;"
        f" ours: {BANDS}x{128 // BANDS} bands, settings {DedupSettings()}"
    )
    raw = {it.item_id: it.text for it in items}
    t = time.perf_counter()
    clean = pipeline_texts(items)
    prep = time.perf_counter() - t
    print(f"  (strip + normalize of the set: {prep:.2f}s, not included below)")
    for name, texts, method in (
        ("khabar (strip+normalize, dedup)", clean, "ours"),
        ("khabar dedup on the raw text", raw, "ours"),
        ("datasketch MinHashLSH, raw text", raw, "ds"),
        ("datasketch MinHashLSH, pipeline text", clean, "ds"),
    ):
        t = time.perf_counter()
        pred = cluster_texts(texts)[0] if method == "ours" else datasketch_clusters(texts)
        report(name, items, pred, time.perf_counter() - t)
    harder_report(args.shared)
    return 0


def harder_report(shared: Path) -> None:
    """The test split with the harder negatives added (labelled_set.harder_negatives)."""
    items = build(shared, "test", harder=True)
    extra = [it for it in items if it.kind in ("mined_negative", "shared_block_negative")]
    texts_clean = pipeline_texts(items)
    sets = {it.item_id: shingles(texts_clean[it.item_id]) for it in extra}
    print(
        f"with harder negatives: {len(items)} items, {sum(1 for it in extra if it.kind == 'mined_negative')} mined,"
        f" {sum(1 for it in extra if it.kind == 'shared_block_negative')} shared-block (pairs, pipeline text):"
    )
    for kind in ("mined_negative", "shared_block_negative"):
        group = [it.item_id for it in extra if it.kind == kind]
        sims = [compare(sets[a], sets[b]) for a, b in zip(group[::2], group[1::2], strict=True)]
        print(
            f"  {kind} pairs: containment {sorted(round(s.containment, 2) for s in sims)};"
            f" jaccard max {max(s.jaccard for s in sims):.2f}"
        )
    raw = {it.item_id: it.text for it in items}
    for name, texts, method in (
        ("khabar (strip+normalize, dedup)", texts_clean, "ours"),
        ("datasketch MinHashLSH, raw text", raw, "ds"),
        ("datasketch MinHashLSH, pipeline text", texts_clean, "ds"),
    ):
        t = time.perf_counter()
        pred = cluster_texts(texts)[0] if method == "ours" else datasketch_clusters(texts)
        report(name, items, pred, time.perf_counter() - t)


if __name__ == "__main__":
    sys.exit(main())
