"""The pipeline version: what it is made of, and that it moves when (and only when) a rule or setting does."""

from __future__ import annotations

import re

import pytest

from khabar import __version__
from khabar.version import pipeline_settings, pipeline_version, rule_files, rules_digest, settings_digest

pytestmark = pytest.mark.unit
SHAPE = re.compile(r"^khabar-(?P<lib>[^+]+)\+lexicon-(?P<lex>[^+]+)\+rules-(?P<rules>[0-9a-f]{8})\+cfg-(?P<cfg>[0-9a-f]{8})$")


def test_the_version_names_library_lexicon_rules_and_settings():
    m = SHAPE.match(pipeline_version({}))
    assert m, pipeline_version({})
    assert m["lib"] == __version__
    assert m["rules"] == rules_digest() and m["cfg"] == settings_digest(pipeline_settings({}))


def test_the_lexicon_version_is_the_one_in_the_file_header():
    from khabar.strip import LEXICON_PATH, load_lexicon

    assert SHAPE.match(pipeline_version({}))["lex"] == load_lexicon(LEXICON_PATH)[0]


def test_the_same_inputs_give_the_same_version():
    assert pipeline_version({}) == pipeline_version({})


@pytest.mark.parametrize(
    "env",
    [
        {"KHABAR_DEDUP_JACCARD_MIN": "0.6"},
        {"KHABAR_DEDUP_CONTAINMENT_MIN": "0.7"},
        {"KHABAR_DEDUP_MIN_SHINGLES": "9"},
        {"NEWS_FURNITURE_MIN_DOCUMENTS": "4"},
        {"NEWS_FURNITURE_WINDOW_DAYS": "7"},
        {"NEWS_REVIEW_LOSS_SHARE": "0.4"},
    ],
    ids=lambda env: next(iter(env)),
)
def test_every_threshold_moves_the_settings_digest(env):
    assert SHAPE.match(pipeline_version(env))["cfg"] != SHAPE.match(pipeline_version({}))["cfg"]


def test_a_default_spelled_out_is_the_same_setting():
    # "0.50" parses to the default 0.5: the digest is of the values the stages use, not of the spelling
    assert pipeline_version({"KHABAR_DEDUP_JACCARD_MIN": "0.50"}) == pipeline_version({})


def test_banding_and_date_trust_are_part_of_the_settings(monkeypatch):
    import khabar.dates
    import khabar.dedup

    base = settings_digest(pipeline_settings({}))
    monkeypatch.setattr(khabar.dedup, "BANDS", 32)
    banded = settings_digest(pipeline_settings({}))
    monkeypatch.setattr(khabar.dates, "HIJRI_CONFIDENCE", 0.6)
    assert len({base, banded, settings_digest(pipeline_settings({}))}) == 3


def test_a_changed_rule_file_moves_the_rules_digest(tmp_path, monkeypatch):
    import khabar.strip

    lexicon = tmp_path / "furniture.tsv"
    lexicon.write_text(khabar.strip.LEXICON_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(khabar.strip, "LEXICON_PATH", lexicon)
    same = pipeline_version({})
    with lexicon.open("a", encoding="utf-8") as fh:
        fh.write("line\tcall_to_action\t^کانال ما را دنبال کنید$\n")
    changed = pipeline_version({})
    assert SHAPE.match(same)["rules"] != SHAPE.match(changed)["rules"]
    assert SHAPE.match(same)["lex"] == SHAPE.match(changed)["lex"]  # the header's version was not bumped


def test_the_rule_files_are_the_lexicon_and_the_date_tables():
    names = [p.name for p in rule_files()]
    assert names[0] == "furniture.tsv"
    assert {"months.tsv", "weekdays.tsv", "relative.tsv"} <= set(names)


def test_the_pipeline_uses_the_composed_version():
    from khabar.pipeline import pipeline_version as from_pipeline

    assert from_pipeline() == pipeline_version()
