"""What produced an article: the pipeline version, composed from the code, the rule files and the settings.

``khabar-<library>+lexicon-<furniture version>+rules-<digest of the rule files>+cfg-<digest of the settings>``,
e.g. ``khabar-0.1.0+lexicon-2+rules-3f9a0c1b+cfg-8d41e2aa``. The rule files are every data file under
``include/`` a stage reads (``furniture.tsv``, ``dates/*.tsv``); the settings are the thresholds and tables
the stages read from the environment or their modules (strip, normalize, date-tag, dedup, LSH banding). A
change to any of them moves the version, so ``reporting.articles.pipeline_version`` says which articles a
re-processing run has not reached yet.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

from khabar import __version__

DIGEST_CHARS = 8  # 32 bits: enough to tell rule sets apart, short enough to read in a table


def rule_files() -> list[Path]:
    """The data files the stages read their rules from, in a fixed order (read where the stages read them)."""
    from khabar import dates, strip

    return [strip.LEXICON_PATH, *sorted(dates.DATES_DIR.glob("*.tsv"))]


def rules_digest(files: list[Path] | None = None) -> str:
    """sha256 over each rule file's name and bytes (names only, so a clone elsewhere agrees)."""
    digest = hashlib.sha256()
    for path in rule_files() if files is None else files:
        digest.update(path.name.encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:DIGEST_CHARS]


def pipeline_settings(env: Mapping[str, str] | None = None) -> dict:
    """Every setting that changes what a stage writes, as plain JSON values."""
    from khabar import dates, dedup, normalize
    from khabar.strip import StripSettings

    strip = StripSettings.from_env() if env is None else _strip_settings(env)
    return {
        "strip": asdict(strip),
        "normalize": {
            "hazm_options": normalize.HAZM_OPTIONS,
            "ambiguity_ratio": normalize.AMBIGUITY_RATIO,
            "solid_by_convention": sorted(normalize.SOLID_BY_CONVENTION),
        },
        "dates": {
            "earliest": dates.EARLIEST.isoformat(),
            "source_confidence": dates.SOURCE_CONFIDENCE,
            "hijri_confidence": dates.HIJRI_CONFIDENCE,
            "weekday_mismatch_factor": dates.WEEKDAY_MISMATCH_FACTOR,
        },
        "dedup": {
            **asdict(dedup.settings_from_env(env)),
            "shingle_words": dedup.SHINGLE_WORDS,
            "num_perm": dedup.NUM_PERM,
            "bands": dedup.BANDS,
            "rows": dedup.ROWS,
        },
    }


def _strip_settings(env: Mapping[str, str]):
    from khabar.strip import StripSettings

    return StripSettings(
        min_documents=int(env.get("NEWS_FURNITURE_MIN_DOCUMENTS", StripSettings.min_documents)),
        window_days=int(env.get("NEWS_FURNITURE_WINDOW_DAYS", StripSettings.window_days)),
        review_loss_share=float(env.get("NEWS_REVIEW_LOSS_SHARE", StripSettings.review_loss_share)),
    )


def settings_digest(settings: dict) -> str:
    """sha256 of the settings as canonical JSON (sorted keys), so the same settings give the same digest."""
    text = json.dumps(settings, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:DIGEST_CHARS]


def pipeline_version(env: Mapping[str, str] | None = None) -> str:
    """The version string stored with every article and run.

    >>> pipeline_version().startswith(f"khabar-{__version__}+lexicon-")
    True
    """
    from khabar import strip

    lexicon_version, _ = strip.load_lexicon(strip.LEXICON_PATH)
    return (
        f"khabar-{__version__}+lexicon-{lexicon_version}"
        f"+rules-{rules_digest()}+cfg-{settings_digest(pipeline_settings(env))}"
    )
