"""Data Docs views whose Jinja templates are compiled once, not on every gate.

Great Expectations builds a new Jinja ``Environment`` for every page it renders, so every gate compiled
the same fifty templates again (half a second, more than the rest of a cheap gate). These views are GX's
own with a bytecode cache on their environment: the compiled templates are kept in ``<cache>/jinja``
(``NEWS_CACHE_DIR``, as the normalizer's tables) and shared by every later gate and process. The pages
are the same; a cache that cannot be written is skipped. The site is configured to use them in
``khabar.gates._context`` (GX's ``site_section_builders`` / ``site_index_builder`` ``view`` option).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView
from jinja2 import FileSystemBytecodeCache


class _QuietFileCache(FileSystemBytecodeCache):
    """A file bytecode cache that never fails a render: a cache that cannot be read or written is skipped."""

    def load_bytecode(self, bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except OSError:
            pass

    def dump_bytecode(self, bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def bytecode_cache() -> FileSystemBytecodeCache | None:
    """The cache under ``NEWS_CACHE_DIR`` (read when a view is made), or None where it cannot be made."""
    from khabar.normalize import cache_dir

    return _cache_in(str(cache_dir() / "jinja"))


@cache
def _cache_in(directory: str) -> FileSystemBytecodeCache | None:
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return _QuietFileCache(directory)


class CachedPageView(DefaultJinjaPageView):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.env.bytecode_cache = bytecode_cache()


class CachedIndexPageView(DefaultJinjaIndexPageView):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.env.bytecode_cache = bytecode_cache()
