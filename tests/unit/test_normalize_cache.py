"""The normalizer's tables cached between processes: the same tables, the same output, no hazm on a hit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from khabar import normalize
from khabar.normalize import PersianNormalizer, build_tables, cache_dir, cached_tables, tables_key

pytestmark = pytest.mark.unit

PLUGINS = Path(normalize.__file__).resolve().parents[1]
SAMPLES = [
    "همکاريهاي نظامي ٤ کشور در سايت www.example.com",
    'کتاب ها و سالهای ۱۴۰۲/۰۷/۱۵ ساعت 17:18 مییابد ""کتاب""',
    "بیــــنالمللی ﷲ  ...  !!! خانهای زمینلرزهای",
]


@pytest.fixture(scope="module")
def built() -> dict:
    return build_tables()


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NEWS_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("NEWS_CACHE_DIR")
    assert cache_dir().name == ".cache"


def test_cached_tables_are_the_built_ones(tmp_path, monkeypatch, built):
    monkeypatch.setenv("NEWS_CACHE_DIR", str(tmp_path))
    first = cached_tables()  # a miss: built and written
    files = list(tmp_path.iterdir())
    assert [f.name for f in files] == [f"normalize-{tables_key()}.pickle"]
    second = cached_tables()  # a hit: read back
    for tables in (first, second):
        assert {k: v for k, v in tables.items() if k != "format"} == built
    fresh, warm = PersianNormalizer(use_cache=False), PersianNormalizer()
    for text in SAMPLES:
        assert warm.normalize(text) == fresh.normalize(text)


def test_a_damaged_cache_file_is_rebuilt(tmp_path, monkeypatch, built):
    monkeypatch.setenv("NEWS_CACHE_DIR", str(tmp_path))
    path = tmp_path / f"normalize-{tables_key()}.pickle"
    path.write_bytes(b"\x80\x05not a pickle")
    tables = cached_tables()
    assert tables["words"] == built["words"] and tables["joined"] == built["joined"]
    assert path.stat().st_size > 1_000_000  # written again, whole
    assert not list(tmp_path.glob("*.tmp"))


def test_an_unwritable_cache_dir_only_costs_time(tmp_path, monkeypatch, built):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("NEWS_CACHE_DIR", str(blocker / "cache"))
    assert cached_tables()["verbs"] == built["verbs"]


def test_a_fresh_process_with_a_warm_cache_does_not_import_hazm(tmp_path):
    env = os.environ | {"NEWS_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(PLUGINS)}
    code = (
        "import sys; from khabar.normalize import normalize_text;"
        f" print(normalize_text({SAMPLES[0]!r})); print('hazm' in sys.modules)"
    )
    cold = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    warm = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert cold.stdout.split("\n")[1] == "True"  # the first process built the tables from hazm
    assert warm.stdout.split("\n")[1] == "False"
    assert warm.stdout.split("\n")[0] == cold.stdout.split("\n")[0] == PersianNormalizer(use_cache=False).normalize(SAMPLES[0])
