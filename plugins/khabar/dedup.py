"""Deduplication: exact copies by a hash of the folded body, near-copies by MinHash + LSH
verified with Jaccard similarity and containment of word shingles, and stories (clusters of
near-copies) that stay stable as the warehouse grows.

Folding makes the copies that differ only in Arabic vs Persian letters, ZWNJ, digits,
punctuation or spacing hash and shingle the same.
"""

from __future__ import annotations

import hashlib
import os
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

SHINGLE_WORDS = 5
NUM_PERM = 128
# Structural: band keys are stored in reporting.lsh_bands, so changing these means re-banding the
# warehouse. 64 bands of 2 rows: pairs down to Jaccard ≈ 0.2 (a short copy contained in a long
# article) become candidates with p ≈ 0.93. Measured on the dev split (bench_dedup.py --sweep, at
# jaccard 0.5 / containment 0.5): recall 0.983 with 64×2, 0.919 with 32×4, 0.659 with 16×8, for 10 % and
# 39 % fewer candidate pairs.
BANDS = 64
ROWS = NUM_PERM // BANDS
# Verification thresholds (settings: env KHABAR_DEDUP_JACCARD_MIN, KHABAR_DEDUP_CONTAINMENT_MIN,
# KHABAR_DEDUP_MIN_SHINGLES); chosen on the dev split by benchmarks/bench_dedup.py --sweep: containment
# 0.5 gives the best F1 (0.991; 0.987 at 0.6, 0.914 without containment), for every jaccard_min in 0.3–0.7
# (0.5 kept, mid-range). The weakest true copies score containment 0.40–0.48; different stories among the
# candidates stay at or below 0.20 (seeds 002–004 against each other: at most 0.02).
JACCARD_MIN = 0.5
CONTAINMENT_MIN = 0.5  # share of the shorter article's shingles found in the longer one
MIN_SHINGLES = 8  # below this an article is too short to call a near-duplicate by shingles

# Applied with str.replace, one C-speed pass each: str.translate with a table this size walks a
# dict per character and cost a third of the stage's time at scale.
_FOLD = (
    ("ي", "ی"), ("ى", "ی"), ("ك", "ک"), ("ة", "ه"), ("ۀ", "ه"), ("أ", "ا"), ("إ", "ا"), ("آ", "ا"), ("ؤ", "و"),
    ("\u200c", ""), ("ـ", ""),
    *((c, str(i)) for i, c in enumerate("۰۱۲۳۴۵۶۷۸۹")),
    *((c, str(i)) for i, c in enumerate("٠١٢٣٤٥٦٧٨٩")),
)
_NON_WORD = re.compile(r"[^\w]+")
_MERSENNE = np.uint64((1 << 61) - 1)
_rng = np.random.RandomState(20220125)  # fixed: signatures must match across runs
_A = np.array([_rng.randint(1, 1 << 30) << 31 | _rng.randint(1, 1 << 31) for _ in range(NUM_PERM)], dtype=np.uint64)
_B = np.array([_rng.randint(0, 1 << 30) << 31 | _rng.randint(0, 1 << 31) for _ in range(NUM_PERM)], dtype=np.uint64)


@dataclass(frozen=True)
class DedupSettings:
    """The verification thresholds; a candidate pair is the same story when either is met."""

    jaccard_min: float = JACCARD_MIN
    containment_min: float = CONTAINMENT_MIN
    min_shingles: int = MIN_SHINGLES


def settings_from_env(env: Mapping[str, str] | None = None) -> DedupSettings:
    """Thresholds from the environment (KHABAR_DEDUP_*), else the measured defaults."""
    env = os.environ if env is None else env
    return DedupSettings(
        jaccard_min=float(env.get("KHABAR_DEDUP_JACCARD_MIN", JACCARD_MIN)),
        containment_min=float(env.get("KHABAR_DEDUP_CONTAINMENT_MIN", CONTAINMENT_MIN)),
        min_shingles=int(env.get("KHABAR_DEDUP_MIN_SHINGLES", MIN_SHINGLES)),
    )


def fold_for_dedup(text: str) -> str:
    """Letters unified, ZWNJ dropped, digits Latin, punctuation and spacing folded.

    >>> fold_for_dedup("همکاری‌های نظامي، ۱۴۰۰")
    'همکاریهای نظامی 1400'
    """
    for a, b in _FOLD:
        if a in text:
            text = text.replace(a, b)
    return _NON_WORD.sub(" ", text.lower()).strip()


def body_hash(text: str, folded: str | None = None) -> str:
    """sha256 of the folded body (pass ``folded`` when already computed): «كشور» and «کشور» hash the same.

    >>> body_hash("كشور") == body_hash("کشور")
    True
    """
    return hashlib.sha256((fold_for_dedup(text) if folded is None else folded).encode("utf-8")).hexdigest()


def shingles(text: str, k: int = SHINGLE_WORDS, folded: str | None = None) -> set[int]:
    """Signed 32-bit hashes (CRC-32) of the word k-grams of the folded text (stored as integer[]).

    >>> shingles("سفر وزیر دفاع به ایران") == shingles("سفر وزير دفاع به ايران")
    True
    """
    words = (fold_for_dedup(text) if folded is None else folded).split()
    if len(words) < k:
        grams = [" ".join(words)] if words else []
    else:
        grams = [" ".join(words[i : i + k]) for i in range(len(words) - k + 1)]
    # CRC-32 is only the shingle's identity (MinHash re-hashes it): fast, stable across processes.
    return {(h ^ 0x80000000) - 0x80000000 for h in map(zlib.crc32, (g.encode("utf-8") for g in grams))}


def minhash(shingle_set: Iterable[int] | np.ndarray) -> np.ndarray:
    """MinHash signature of NUM_PERM values (universal hashing mod the Mersenne prime 2^61-1)."""
    signed = shingle_set.astype(np.int64) if isinstance(shingle_set, np.ndarray) else np.fromiter(shingle_set, dtype=np.int64)
    x = signed.astype(np.uint64) & np.uint64(0xFFFFFFFF)
    if not len(x):
        return np.full(NUM_PERM, np.iinfo(np.uint64).max, dtype=np.uint64)
    with np.errstate(over="ignore"):  # uint64 wrap-around is part of the hash, as in datasketch
        hashed = np.outer(x, _A)
        hashed += _B
    # hashed % (2^61 - 1) without a 64-bit division: 2^61 ≡ 1, so fold the top 3 bits onto the rest once
    # and subtract the prime from what is still at or above it (the same values, three times faster).
    folded = hashed >> np.uint64(61)
    hashed &= _MERSENNE
    hashed += folded
    hashed -= _MERSENNE * (hashed >= _MERSENNE)
    return hashed.min(axis=0)


def band_keys(signature: np.ndarray, bands: int = BANDS) -> list[int]:
    """One signed 64-bit key per LSH band (stored in the warehouse, looked up with a SQL join)."""
    rows = NUM_PERM // bands
    keys = []
    for band in range(bands):
        chunk = signature[band * rows : (band + 1) * rows].tobytes()
        digest = hashlib.blake2b(chunk, digest_size=8, person=band.to_bytes(2, "little")).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return keys


@dataclass(frozen=True)
class Similarity:
    jaccard: float
    containment: float
    settings: DedupSettings = DedupSettings()

    @property
    def same_story(self) -> bool:
        return self.jaccard >= self.settings.jaccard_min or self.containment >= self.settings.containment_min

    @property
    def rule(self) -> str:
        if self.jaccard >= self.settings.jaccard_min:
            return f"jaccard>={self.settings.jaccard_min}"
        if self.containment >= self.settings.containment_min:
            return f"containment>={self.settings.containment_min}"
        return "different"


def compare(a: set[int], b: set[int], settings: DedupSettings = DedupSettings()) -> Similarity:
    """Exact Jaccard and containment of two shingle sets."""
    if len(a) < settings.min_shingles or len(b) < settings.min_shingles:
        return Similarity(0.0, 0.0, settings)
    inter = len(a & b)
    return Similarity(inter / len(a | b), inter / min(len(a), len(b)), settings)


def compare_sorted(a: np.ndarray, b: np.ndarray, settings: DedupSettings = DedupSettings()) -> Similarity:
    """``compare`` for sorted arrays of unique shingles (what staging and the warehouse store): the same
    scores, from a C-speed merge instead of Python sets.

    >>> a, b = np.array(sorted(shingles("سفر وزیر دفاع به ایران " * 3))), np.array(sorted(shingles("سفر وزیر دفاع به ایران")))
    >>> compare_sorted(a, b, DedupSettings(min_shingles=1)) == compare(set(a.tolist()), set(b.tolist()), DedupSettings(min_shingles=1))
    True
    """
    if len(a) < settings.min_shingles or len(b) < settings.min_shingles:
        return Similarity(0.0, 0.0, settings)
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return Similarity(inter / (len(a) + len(b) - inter), inter / min(len(a), len(b)), settings)


# ------------------------------------------------------------------------------ stories


@dataclass(frozen=True)
class ExistingStory:
    """A story already in the warehouse that a document of the run matched."""

    story_id: str
    first_published_at: datetime | None

    @property
    def age_key(self) -> tuple:
        # Older first; undated stories after dated ones; the smaller id breaks ties.
        return (self.first_published_at is None, self.first_published_at.timestamp() if self.first_published_at else 0.0, self.story_id)


@dataclass(frozen=True)
class Merge:
    """Story ``merged_story_id`` joins ``into_story_id`` because ``bridge_doc_id`` matched both."""

    merged_story_id: str
    into_story_id: str
    bridge_doc_id: str


def assign_stories(
    order: Sequence[str],
    doc_edges: Iterable[tuple[str, str]],
    story_edges: Iterable[tuple[str, ExistingStory]],
) -> tuple[dict[str, str], list[Merge]]:
    """Give each document of the run a story, merging existing stories a document bridges.

    ``order`` lists the run's (non-duplicate) documents in processing order (earliest published
    first); ``doc_edges`` are same-story pairs inside the run; ``story_edges`` pair a document with an
    existing story it matched. In each connected component: with no existing story, the story is the
    first document's id; with one, its id (a new member never renames a story); with several, the
    oldest survives and the others are merged into it (recorded as ``Merge``s). The survivor of a set
    of stories does not depend on the order the merges happen in.
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    rank = {doc_id: i for i, doc_id in enumerate(order)}
    stories: dict[str, ExistingStory] = {}
    bridges: dict[str, str] = {}  # existing story -> first document (in order) that matched it
    for a, b in doc_edges:
        union("d:" + a, "d:" + b)
    for doc_id, story in story_edges:
        stories[story.story_id] = story
        union("d:" + doc_id, "s:" + story.story_id)
        if story.story_id not in bridges or rank[doc_id] < rank[bridges[story.story_id]]:
            bridges[story.story_id] = doc_id
    members: dict[str, list[str]] = {}
    for doc_id in order:
        members.setdefault(find("d:" + doc_id), []).append(doc_id)
    existing: dict[str, list[ExistingStory]] = {}
    for story in stories.values():
        existing.setdefault(find("s:" + story.story_id), []).append(story)
    assigned: dict[str, str] = {}
    merges: list[Merge] = []
    for root, docs in members.items():
        olds = sorted(existing.get(root, []), key=lambda s: s.age_key)
        story_id = olds[0].story_id if olds else docs[0]
        merges += [Merge(s.story_id, story_id, bridges[s.story_id]) for s in olds[1:]]
        for doc_id in docs:
            assigned[doc_id] = story_id
    return assigned, merges


def cluster_texts(
    texts: Mapping[str, str], settings: DedupSettings = DedupSettings(), bands: int = BANDS
) -> tuple[dict[str, str], int]:
    """Stories for a batch of texts held in memory, by the rules the dedup stage applies in the
    warehouse (exact hash, band-key candidates, verification, ``assign_stories``); returns the story
    of each id (an exact copy gets its original's story) and the number of candidate pairs verified.
    Used by the quality benchmark.

    >>> cluster_texts({"a": "سفر وزیر دفاع آذربایجان به تهران " * 3, "b": "سفر وزير دفاع آذربايجان به تهران " * 3})[0]
    {'a': 'a', 'b': 'a'}
    """
    order = list(texts)
    first_by_hash: dict[str, str] = {}
    copies: dict[str, str] = {}
    sets: dict[str, set[int]] = {}
    buckets: dict[int, list[str]] = {}
    for doc_id in order:
        folded = fold_for_dedup(texts[doc_id])
        h = body_hash(texts[doc_id], folded)
        if h in first_by_hash:
            copies[doc_id] = first_by_hash[h]
            continue
        first_by_hash[h] = doc_id
        sets[doc_id] = shingles(texts[doc_id], folded=folded)
        for key in band_keys(minhash(sets[doc_id]), bands):
            buckets.setdefault(key, []).append(doc_id)
    originals = [d for d in order if d in sets]
    pairs = {(b, a) for ids in buckets.values() for i, a in enumerate(ids) for b in ids[i + 1 :]}
    edges = [(a, b) for a, b in pairs if compare(sets[a], sets[b], settings).same_story]
    stories, _ = assign_stories(originals, edges, [])
    for doc_id, original in copies.items():
        stories[doc_id] = stories[original]
    return stories, len(pairs)
