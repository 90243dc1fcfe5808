"""Paths and markers shared by the test modules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("KHABAR_SHARED_DIR") or PROJECT.parent / "shared")  # a worktree sets it
SEEDS = SHARED / "seeds"
CORPUS = SHARED / "corpus"


def needs_shared(path: Path = SHARED):
    """Skip when ../shared (or a part of it) is absent: a user's fresh clone."""
    return pytest.mark.skipif(not path.is_dir(), reason=f"{path} is absent (a fresh clone without ../shared)")
