"""normalize_text on real corpus paragraphs (../shared/corpus): the restoration measurement of
benchmarks/bench_normalize.py on a held-out sample, idempotency, and the gate's character check."""

from __future__ import annotations

import importlib.util
import re
from collections import Counter

import pytest

from helpers import CORPUS, PROJECT, needs_shared
from khabar.gates import BODY_FORBIDDEN
from khabar.normalize import ZWNJ, normalize_text

pytestmark = [pytest.mark.unit, pytest.mark.shared, needs_shared(CORPUS)]
SAMPLE = 1500  # paragraphs of the held-out split: a few seconds


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_normalize", PROJECT / "benchmarks" / "bench_normalize.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def paragraphs(bench) -> list[str]:
    held_out = [p for split, p in bench.load_paragraphs(None) if split == "held-out"]
    return held_out[:: max(1, len(held_out) // SAMPLE)][:SAMPLE]


def _score(bench, system, paragraphs: list[str]) -> Counter:
    total: Counter = Counter()
    for gold in paragraphs:
        text = gold.replace(ZWNJ, "")
        total.update(bench.score(gold, text, system(text)))
    return total


def test_restoration_beats_hazm_at_the_precision_target(bench, paragraphs):
    from hazm import Normalizer

    ours = _score(bench, normalize_text, paragraphs)
    hazm = _score(bench, Normalizer().normalize, paragraphs)
    precision = ours["correct_joined"] / ours["written_joined"]
    recall = ours["correct_visible"] / ours["gold_visible"]
    assert precision >= 0.98, precision
    assert recall >= 1.5 * hazm["correct_visible"] / hazm["gold_visible"], (recall, hazm)


def test_idempotent_on_real_paragraphs(paragraphs):
    for para in paragraphs[:400]:
        once = normalize_text(para.replace(ZWNJ, ""))
        assert normalize_text(once) == once


def test_no_normalized_paragraph_would_fail_the_gate(paragraphs):
    # the gate's PostgreSQL class, read by Python's re (both understand \uXXXX escapes)
    forbidden = re.compile(BODY_FORBIDDEN)
    assert forbidden.search("ك") and forbidden.search("\ufffd")
    bad = [p for p in paragraphs if forbidden.search(normalize_text(p))]
    assert bad == []
