"""Batch planning and COPY cells: pure functions, no database."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from khabar.pipeline import plan_batches
from khabar.warehouse import copy_cell

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("documents", "size", "expected"),
    [
        (0, 500, (500, 1)),  # an empty day still has one (empty) batch: its stages run, it loads its zeros
        (1, 500, (500, 1)),
        (500, 500, (500, 1)),
        (501, 500, (500, 2)),
        (7, 3, (3, 3)),
        (5000, 1, (5, 1000)),  # capped at 1024 batches (Airflow's max_map_length): the size grows instead
        (1024, 1, (1, 1024)),
        (1025, 1, (2, 513)),
    ],
)
def test_plan_batches(documents, size, expected):
    assert plan_batches(documents, size) == expected
    batch_size, batches = expected
    assert batches <= 1024 and batch_size * batches >= documents


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (None, "\\N"),
        ("\\N", "\\\\N"),  # the text «\N» is not a null
        ("خط اول\nخط\tدوم\r", "خط اول\\nخط\\tدوم\\r"),
        ("a\\b", "a\\\\b"),
        (True, "t"),
        (False, "f"),
        ([3, 1, 2], "{3,1,2}"),
        (0.9025, "0.9025"),
        (date(2022, 1, 25), "2022-01-25"),
    ],
)
def test_copy_cell(value, cell):
    assert copy_cell(value) == cell


_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


@given(st.text(alphabet=st.sampled_from("\\\n\r\tN ab\u200cیک\x00\u2028"), max_size=40) | st.text())
def test_copy_cell_escapes_text_as_one_translation_would(text):
    """The escaping is done with chained str.replace (fast); the reference is one simultaneous translation."""
    assert copy_cell(text) == text.translate(_ESCAPES)
