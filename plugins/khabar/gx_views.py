"""Data Docs views whose Jinja templates are compiled once, not on every gate; a site builder that leaves
GX's static assets in place once copied; an index that reads of each listed result only what it shows.

Great Expectations builds a new Jinja ``Environment`` for every page it renders, so every gate compiled
the same fifty templates again (half a second, more than the rest of a cheap gate). These views are GX's
own with a bytecode cache on their environment: the compiled templates are kept in ``<cache>/jinja``
(``NEWS_CACHE_DIR``, as the normalizer's tables) and shared by every later gate and process. The pages
are the same; a cache that cannot be written is skipped. The site is configured to use them in
``khabar.gates._context`` (GX's ``site_section_builders`` / ``site_index_builder`` ``view`` option).

GX also wrote its static assets (fonts, images, styles: 20 files, 4 MB) into the site on every gate, and
its index loaded each of the newest results it lists (60) whole, every expectation's result through
marshmallow, to show whether it passed: a third of a gate's Data Docs time. ``SiteBuilder`` copies the
assets only where the site lacks one (or holds one of another size); ``SiteIndexBuilder`` reads a listed
result's JSON for its success and metadata. The index lists the same results with the same links.

Before it picks the newest results, GX's index also parses the time of every result and page the site
holds with dateutil (four parses a result): with a year of history (2,300 results) a gate's Data Docs
took 0.8 s where it took 0.17 s on a new site. ``SiteIndexBuilder`` matches pages and results by their
stored keys and reads the times, which GX writes in one format, with ``datetime.strptime``; and the site
builder lists a section's pages under that section's folder only, where GX walked the whole site.
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.store.store_backend import StoreBackend
from great_expectations.data_context.store.tuple_store_backend import TupleFilesystemStoreBackend
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)
from great_expectations.render.renderer.site_builder import FALSEY_YAML_STRINGS, DefaultSiteIndexBuilder
from great_expectations.render.renderer.site_builder import SiteBuilder as GxSiteBuilder
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


class SiteBuilder(GxSiteBuilder):
    """GX's site builder; its static assets are copied only where the site's folder lacks one or holds one
    of another size (a site in another kind of store gets them on every build, as before)."""

    # GX passes a class those of its runtime arguments that its __init__ names (data_context, site_name...):
    # GX's signature, named in full
    def __init__(self, data_context, store_backend, site_name=None, site_index_builder=None, show_how_to_buttons=True,
                 site_section_builders=None, runtime_environment=None, cloud_mode=False, **kwargs) -> None:
        super().__init__(
            data_context, store_backend, site_name=site_name, site_index_builder=site_index_builder,
            show_how_to_buttons=show_how_to_buttons, site_section_builders=site_section_builders,
            runtime_environment=runtime_environment, cloud_mode=cloud_mode, **kwargs,
        )
        store = self.target_store
        copy = store.copy_static_assets
        backend = store.store_backends["static_assets"]

        def copy_missing(static_assets_source_dir: str | None = None) -> None:
            if static_assets_source_dir is not None or not _assets_in_place(backend):
                copy(static_assets_source_dir)

        store.copy_static_assets = copy_missing
        # GX lists a section's pages by walking the whole site (every page, stored result and asset), three
        # times a gate; the pages of a section are all under its folder (filepath_prefix), so only that is walked
        for section in (ExpectationSuiteIdentifier, ValidationResultIdentifier):
            pages = store.store_backends[section]
            if isinstance(pages, TupleFilesystemStoreBackend) and pages.filepath_prefix:
                pages.list_keys = _listing_under(pages, tuple(pages.filepath_prefix.split("/")))
        # and each section lists every stored result (parsing each one's time with dateutil) to render one,
        # as the index does again: the results are listed once a build, their times read by _result_key
        self._listing = _Listing()
        for builder in self.site_section_builders.values():
            results = builder.source_store
            if results.key_class is ValidationResultIdentifier and _reads_keys(results):
                results.list_keys = _result_listing(results, self._listing)
        if isinstance(self.site_index_builder, SiteIndexBuilder):
            self.site_index_builder.listing = self._listing

    def build(self, *args, **kwargs):
        with self._listing.kept():  # a build stores no result: its listings hold while it runs
            return super().build(*args, **kwargs)


class _Listing:
    """Stored results listed once while ``kept`` (a site build), listed afresh at every call otherwise."""

    def __init__(self) -> None:
        self.kept_results: dict[int, list] | None = None

    @contextmanager
    def kept(self):
        self.kept_results = {}
        try:
            yield
        finally:
            self.kept_results = None

    def results(self, store) -> list[tuple[tuple, ValidationResultIdentifier]]:
        """The store's (stored key, identifier) pairs."""
        kept = self.kept_results if self.kept_results is not None else {}
        if id(store) not in kept:
            keys = [tuple(k) for k in store.store_backend.list_keys() if tuple(k) != StoreBackend.STORE_BACKEND_ID_KEY]
            kept[id(store)] = [(k, _result_key(k)) for k in keys]
        return kept[id(store)]


def _listing_under(backend: TupleFilesystemStoreBackend, folder: tuple[str, ...]):
    list_keys = backend.list_keys

    def list_keys_under(prefix: tuple = ()) -> list:
        return list_keys(prefix or folder)

    return list_keys_under


def _reads_keys(store) -> bool:
    """The store's keys are (suite, run name, run time, batch) tuples of files, as ``_result_key`` reads them."""
    return isinstance(store.store_backend, TupleFilesystemStoreBackend) and not store._use_fixed_length_key


def _result_listing(store, listing: _Listing):
    def list_keys() -> list:
        return [key for _, key in listing.results(store)]

    return list_keys


def _assets_in_place(backend) -> bool:
    if not isinstance(backend, TupleFilesystemStoreBackend):
        return False
    source = _static_assets()
    site = Path(backend.full_base_directory)
    try:
        return bool(source) and all((site / name).stat().st_size == size for name, size in source.items())
    except OSError:
        return False


@cache
def _static_assets() -> dict[str, int]:
    """GX's static assets (where ``HtmlSiteStore.copy_static_assets`` reads them) by their path in a site."""
    import great_expectations.render.view as views

    static = Path(views.__file__).parent / "static"
    return {f.relative_to(static.parent).as_posix(): f.stat().st_size for f in static.rglob("*") if f.is_file() and f.name != ".DS_Store"}


class SiteIndexBuilder(DefaultSiteIndexBuilder):
    """GX's index builder; a listed validation result is read from its JSON for what the index shows (its
    success, batch metadata and asset), not loaded whole; pages and results are matched by their stored
    keys, their times read in GX's one format (``_result_key``)."""

    listing: _Listing | None = None  # the site builder's (khabar.gx_views.SiteBuilder)

    def _build_validation_and_profiling_result_site_keys(self, skip_and_clean_missing: bool) -> list:
        sections = self.site_section_builders_config
        enabled = [s for s in ("validations", "profiling") if sections.get(s, "None") and sections.get(s, "None") not in FALSEY_YAML_STRINGS]
        if not enabled:
            return []
        store = self.data_context.stores[sections[enabled[0]].get("source_store_name")]
        site = self.target_store.store_backends[ValidationResultIdentifier]
        if not _reads_keys(store):  # keys GX would read another way: GX's own listing
            return super()._build_validation_and_profiling_result_site_keys(skip_and_clean_missing)
        results = {key for key, _ in (self.listing or _Listing()).results(store)}
        keys = []
        for key in site.list_keys():
            if skip_and_clean_missing and tuple(key) not in results:  # a page whose result is gone, as GX does
                site.remove_key(tuple(key))
            else:
                keys.append(_result_key(tuple(key)))
        return keys

    def _add_validations_to_index_links(self, index_links_dict, validation_and_profiling_result_site_keys) -> None:
        context = self.data_context
        self.data_context = _ResultSummaries(context)
        try:
            super()._add_validations_to_index_links(index_links_dict, validation_and_profiling_result_site_keys)
        finally:
            self.data_context = context


class _ResultSummaries:
    """The data context as the index builder sees it, with ``get_validation_result`` returning a stored result
    without its expectations' results (each key names one result; without one, GX's own lookup)."""

    def __init__(self, context) -> None:
        self._context = context

    def __getattr__(self, name: str):
        return getattr(self._context, name)

    def get_validation_result(self, expectation_suite_name, run_id=None, batch_identifier=None,
                              validation_results_store_name=None, failed_only=False):
        if run_id is None or batch_identifier is None or failed_only:
            return self._context.get_validation_result(
                expectation_suite_name, run_id, batch_identifier, validation_results_store_name, failed_only
            )
        store = self._context.stores[validation_results_store_name or self._context.validation_results_store_name]
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=expectation_suite_name),
            run_id=run_id,
            batch_identifier=batch_identifier,
        )
        stored = store.store_backend.get(store.key_to_tuple(key))
        if not stored:
            return {}
        result = json.loads(stored) if isinstance(stored, (str, bytes)) else stored
        return ExpectationSuiteValidationResult(
            success=result["success"], results=[], suite_name=result["suite_name"], meta=result.get("meta") or {},
            statistics=result.get("statistics"),
        )


_RUN_TIME = re.compile(r"\d{8}T\d{6}\.\d{6}Z")


def _result_key(key: tuple) -> ValidationResultIdentifier:
    """``ValidationResultIdentifier.from_tuple`` for a stored (suite, run name, run time, batch) key, its
    run time (``RunIdentifier.to_tuple``'s format, UTC) read by strptime; another key by GX."""
    try:
        if len(key) != 4 or not _RUN_TIME.fullmatch(key[2]):
            raise ValueError(key)
        run_time = datetime.strptime(key[2], "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return ValidationResultIdentifier.from_tuple(key)
    return ValidationResultIdentifier(ExpectationSuiteIdentifier(name=key[0]), RunIdentifier(key[1], run_time), key[3])
