"""Where the project's files are, wherever the library is imported from."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INCLUDE_DIR = PROJECT_ROOT / "include"
MIGRATIONS_DIR = INCLUDE_DIR / "migrations"
SAMPLE_LANDING_DIR = INCLUDE_DIR / "sample_landing"
EMBEDDED_PG_DIR = PROJECT_ROOT / ".warehouse" / "pgdata"
