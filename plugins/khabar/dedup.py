"""Deduplication: exact copies by a hash of the folded body, near-copies by MinHash + LSH
verified with Jaccard similarity and containment of word shingles.

Folding makes the copies that differ only in Arabic vs Persian letters, ZWNJ, digits,
punctuation or spacing hash and shingle the same.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np

SHINGLE_WORDS = 5
NUM_PERM = 128
BANDS = 64  # 2 rows a band: pairs down to Jaccard ≈ 0.2 (containment of a short copy) become candidates
JACCARD_MIN = 0.5
CONTAINMENT_MIN = 0.6  # share of the shorter article's shingles found in the longer one
MIN_SHINGLES = 8  # below this an article is too short to call a near-duplicate by shingles

_FOLD = str.maketrans(
    {"ي": "ی", "ى": "ی", "ك": "ک", "ة": "ه", "ۀ": "ه", "أ": "ا", "إ": "ا", "آ": "ا", "ؤ": "و", "\u200c": "", "ـ": ""}
    | {c: str(i) for i, c in enumerate("۰۱۲۳۴۵۶۷۸۹")}
    | {c: str(i) for i, c in enumerate("٠١٢٣٤٥٦٧٨٩")}
)
_NON_WORD = re.compile(r"[^\w]+")
_MERSENNE = np.uint64((1 << 61) - 1)
_rng = np.random.RandomState(20220125)  # fixed: signatures must match across runs
_A = np.array([_rng.randint(1, 1 << 30) << 31 | _rng.randint(1, 1 << 31) for _ in range(NUM_PERM)], dtype=np.uint64)
_B = np.array([_rng.randint(0, 1 << 30) << 31 | _rng.randint(0, 1 << 31) for _ in range(NUM_PERM)], dtype=np.uint64)


def fold_for_dedup(text: str) -> str:
    """Letters unified, ZWNJ dropped, digits Latin, punctuation and spacing folded.

    >>> fold_for_dedup("همکاری‌های نظامي، ۱۴۰۰")
    'همکاریهای نظامی 1400'
    """
    return _NON_WORD.sub(" ", text.translate(_FOLD).lower()).strip()


def body_hash(text: str) -> str:
    return hashlib.sha256(fold_for_dedup(text).encode("utf-8")).hexdigest()


def shingles(text: str, k: int = SHINGLE_WORDS) -> set[int]:
    """64-bit hashes of the word k-grams of the folded text."""
    words = fold_for_dedup(text).split()
    if len(words) < k:
        grams = [" ".join(words)] if words else []
    else:
        grams = [" ".join(words[i : i + k]) for i in range(len(words) - k + 1)]
    return {int.from_bytes(hashlib.blake2b(g.encode("utf-8"), digest_size=8).digest(), "little") for g in grams}


def minhash(shingle_set: set[int]) -> np.ndarray:
    """MinHash signature of NUM_PERM values (universal hashing mod the Mersenne prime 2^61-1)."""
    if not shingle_set:
        return np.full(NUM_PERM, np.iinfo(np.uint64).max, dtype=np.uint64)
    x = np.fromiter((s & 0xFFFFFFFF for s in shingle_set), dtype=np.uint64)
    with np.errstate(over="ignore"):  # uint64 wrap-around is part of the hash, as in datasketch
        hashed = (np.outer(x, _A) + _B) % _MERSENNE
    return hashed.min(axis=0)


def band_keys(signature: np.ndarray) -> list[int]:
    """One signed 64-bit key per LSH band (stored in the warehouse, looked up with a SQL join)."""
    rows = NUM_PERM // BANDS
    keys = []
    for band in range(BANDS):
        chunk = signature[band * rows : (band + 1) * rows].tobytes()
        digest = hashlib.blake2b(chunk, digest_size=8, person=band.to_bytes(2, "little")).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return keys


@dataclass(frozen=True)
class Similarity:
    jaccard: float
    containment: float

    @property
    def same_story(self) -> bool:
        return self.jaccard >= JACCARD_MIN or self.containment >= CONTAINMENT_MIN

    @property
    def rule(self) -> str:
        if self.jaccard >= JACCARD_MIN:
            return f"jaccard>={JACCARD_MIN}"
        if self.containment >= CONTAINMENT_MIN:
            return f"containment>={CONTAINMENT_MIN}"
        return "different"


def compare(a: set[int], b: set[int]) -> Similarity:
    """Exact Jaccard and containment of two shingle sets."""
    if len(a) < MIN_SHINGLES or len(b) < MIN_SHINGLES:
        return Similarity(0.0, 0.0)
    inter = len(a & b)
    return Similarity(inter / len(a | b), inter / min(len(a), len(b)))
