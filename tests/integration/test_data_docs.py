"""Every gate's result renders to the Data Docs site: a page per suite and run, listed in index.html,
failures shown as failures; ``NEWS_DATA_DOCS_DIR=off`` writes nothing."""

from __future__ import annotations

from datetime import date

import pytest

from khabar.gates import GateFailed, validate_stage
from khabar.pipeline import Run, run_stage

pytestmark = pytest.mark.integration
DAY = date(2022, 1, 25)
TEXT = (
    "به گزارش خبرگزاری مهر، مانور زلزله در مدارس منطقه ۱۲ تهران با حضور دانش‌آموزان برگزار شد.\n"
    "مدیر آموزش و پرورش منطقه گفت این مانور هر سال در آغاز بهمن ماه برگزار می‌شود."
)


@pytest.fixture(scope="module")
def ingested(fresh_db, tmp_path_factory):
    landing = tmp_path_factory.mktemp("landing")
    (landing / DAY.isoformat()).mkdir()
    (landing / DAY.isoformat() / "manover.txt").write_text(TEXT, encoding="utf-8")
    (landing / DAY.isoformat() / "empty.txt").write_bytes(b"")  # quarantined: the gate still passes
    run = Run(day=DAY, landing_root=landing, quarantine_dir=tmp_path_factory.mktemp("q"))
    run_stage(fresh_db, "ingest", run)
    return fresh_db


def pages(docs, stage):
    return sorted((docs / "validations" / f"news_{stage}" / DAY.isoformat()).glob("*/warehouse-*.html"))


def test_a_gate_renders_its_page_and_the_index_lists_it(ingested, tmp_path, monkeypatch):
    monkeypatch.setenv("NEWS_DATA_DOCS_DIR", str(tmp_path))
    assert validate_stage(ingested, "ingest", DAY.isoformat(), DAY)["success"]
    (page,) = pages(tmp_path, "ingest")
    assert page.name == "warehouse-ingest_rows.html"
    html = page.read_text(encoding="utf-8")
    assert "every discovered file became documents or a quarantine row" in html  # the suite's own expectations
    assert "source_path" in html
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert page.relative_to(tmp_path).as_posix() in index

    # a second check of the day adds a page; the index lists both
    validate_stage(ingested, "ingest", DAY.isoformat(), DAY)
    both = pages(tmp_path, "ingest")
    assert len(both) == 2
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert all(p.relative_to(tmp_path).as_posix() in index for p in both)


def test_a_failed_gate_is_rendered_as_failed(ingested, tmp_path, monkeypatch):
    import khabar.gates as gates

    original = gates.SUITES["ingest"]

    def broken(gxe, day):
        spec = original(gxe, day)
        spec.expectations.append(gxe.ExpectTableRowCountToEqual(value=1000))  # deliberately impossible
        return spec

    monkeypatch.setitem(gates.SUITES, "ingest", broken)
    monkeypatch.setenv("NEWS_DATA_DOCS_DIR", str(tmp_path))
    with pytest.raises(GateFailed):
        validate_stage(ingested, "ingest", DAY.isoformat(), DAY)
    (page,) = pages(tmp_path, "ingest")
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "'_validation_success_text': 'Failed'" in index
    assert "1000" in page.read_text(encoding="utf-8")


def test_off_writes_nothing(ingested, tmp_path, monkeypatch):
    monkeypatch.setenv("NEWS_DATA_DOCS_DIR", "off")
    monkeypatch.chdir(tmp_path)
    assert validate_stage(ingested, "ingest", DAY.isoformat(), DAY)["success"]
    assert list(tmp_path.iterdir()) == []


def test_templates_are_compiled_once_and_kept_in_the_cache(ingested, tmp_path, monkeypatch):
    """The Data Docs views keep GX's compiled Jinja templates in NEWS_CACHE_DIR/jinja: a later gate (or
    process) renders its pages without compiling any template."""
    import jinja2

    monkeypatch.setenv("NEWS_DATA_DOCS_DIR", str(tmp_path / "docs"))
    monkeypatch.setenv("NEWS_CACHE_DIR", str(tmp_path / "cache"))
    assert validate_stage(ingested, "ingest", DAY.isoformat(), DAY)["success"]
    assert len(list((tmp_path / "cache" / "jinja").iterdir())) > 10

    compiled = []
    original = jinja2.Environment.compile
    monkeypatch.setattr(jinja2.Environment, "compile", lambda self, *a, **k: compiled.append(1) or original(self, *a, **k))
    assert validate_stage(ingested, "ingest", DAY.isoformat(), DAY)["success"]
    assert compiled == []
    second = pages(tmp_path / "docs", "ingest")[-1].read_text(encoding="utf-8")
    assert "every discovered file became documents or a quarantine row" in second


def test_a_cache_that_cannot_be_written_does_not_fail_a_gate(ingested, tmp_path, monkeypatch):
    (tmp_path / "cache").write_text("a file where the cache folder would be")
    monkeypatch.setenv("NEWS_DATA_DOCS_DIR", str(tmp_path / "docs"))
    monkeypatch.setenv("NEWS_CACHE_DIR", str(tmp_path / "cache"))
    assert validate_stage(ingested, "ingest", DAY.isoformat(), DAY)["success"]
    (page,) = pages(tmp_path / "docs", "ingest")
    assert "source_path" in page.read_text(encoding="utf-8")


def test_static_assets_are_copied_once_and_restored_when_missing(ingested, tmp_path, monkeypatch):
    """GX's fonts, images and styles are in the site after the first gate; a later gate leaves them as they
    are (it rewrote 4 MB a gate), and puts back one that is gone or changed."""
    monkeypatch.setenv("NEWS_DATA_DOCS_DIR", str(tmp_path))
    assert validate_stage(ingested, "ingest", DAY.isoformat(), DAY)["success"]
    assets = sorted(p for p in (tmp_path / "static").rglob("*") if p.is_file())
    assert len(assets) > 10 and any(p.suffix == ".css" for p in assets)
    gone, changed = assets[0], assets[-1]
    gone.unlink()
    changed.write_text("not the asset")
    validate_stage(ingested, "ingest", DAY.isoformat(), DAY)
    assert gone.exists() and changed.read_text() != "not the asset"
    written = {p: p.stat().st_mtime_ns for p in assets}
    validate_stage(ingested, "ingest", DAY.isoformat(), DAY)
    assert {p: p.stat().st_mtime_ns for p in assets} == written


def test_the_index_lists_what_gxs_own_index_lists(ingested, tmp_path, monkeypatch):
    """The index builder reads a listed result's JSON for its success and metadata, and matches pages with
    results by their stored keys (khabar.gx_views): the links it builds are those of GX's
    DefaultSiteIndexBuilder, passed and failed results alike."""
    import khabar.gates as gates

    monkeypatch.setenv("NEWS_DATA_DOCS_DIR", str(tmp_path))
    validate_stage(ingested, "ingest", DAY.isoformat(), DAY)
    original = gates.SUITES["ingest"]

    def broken(gxe, day):
        spec = original(gxe, day)
        spec.expectations.append(gxe.ExpectTableRowCountToEqual(value=1000))
        return spec

    monkeypatch.setitem(gates.SUITES, "ingest", broken)
    with pytest.raises(GateFailed):
        validate_stage(ingested, "ingest", DAY.isoformat(), DAY)

    def index_links(default: bool) -> dict:
        context = gates._context(tmp_path)
        site = dict(context.variables.data_docs_sites[gates.DATA_DOCS_SITE])
        if default:
            site.pop("module_name")
            site["site_index_builder"] = {k: v for k, v in site["site_index_builder"].items() if k != "module_name"}
            site["site_index_builder"]["class_name"] = "DefaultSiteIndexBuilder"
        builder = context._init_site_builder_for_data_docs_site_creation(site_name=gates.DATA_DOCS_SITE, site_config=site)
        assert (type(builder.site_index_builder).__module__ == "khabar.gx_views") is not default
        return builder.site_index_builder.build()[1]

    # a page whose stored result is gone is removed from the site and not listed, by both
    (page, *_) = pages(tmp_path, "ingest")
    orphan = page.parents[1] / "20200101T000000.000000Z" / page.name

    def orphan_page() -> None:
        orphan.parent.mkdir(exist_ok=True)
        orphan.write_text(page.read_text(encoding="utf-8"), encoding="utf-8")

    orphan_page()
    gxs = index_links(default=True)
    assert not orphan.exists()
    orphan_page()
    ours = index_links(default=False)
    assert not orphan.exists()
    assert ours == gxs
    assert sorted(link["validation_success"] for link in ours["validations_links"]) == [False, True]
