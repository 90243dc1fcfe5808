"""Strip boilerplate: HTML to text, then site furniture out of the body, each removal recorded.

The furniture lexicon is the data file ``include/furniture.tsv``; every removed line keeps the
rule that removed it (``reporting.stripped_lines``), so a wrong removal can be found with SQL.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from khabar.dates import is_dateline
from khabar.document import Document, StrippedLine
from khabar.paths import INCLUDE_DIR

LEXICON_PATH = INCLUDE_DIR / "furniture.tsv"
TITLE_MAX_WORDS = 30
BLOCK_ITEM_MAX_WORDS = 16  # headlines under a «پربیننده ترین خبرها» heading are short
FURNITURE_LINE_MAX_WORDS = 14

_FOLD = str.maketrans({"ي": "ی", "ى": "ی", "ك": "ک", "ة": "ه", "\u200c": " ", "\u200f": None, "\u200e": None, "ـ": None})
_SPACES = re.compile(r"\s+")
_ATTRIBUTION = re.compile(
    r"به گزارش (?:[^،,:]{0,60}? )?(?P<outlet>(?:خبرگزاری|پایگاه خبری|روزنامه|سایت|شبکه|پایگاه اطلاع رسانی) [^،,:\s]+(?: [^،,:\s]+)?)"
)
_BLOCK_TAGS = ("p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "br", "tr", "blockquote", "section", "article", "time")
_NOISE_TAGS = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe", "button", "svg", "select", "input", "textarea")
_NOISE_ATTR = re.compile(
    r"menu|nav|footer|header|sidebar|share|social|comment|related|tags?\b|print|breadcrumb|copyright|"
    r"most|popular|banner|advert|\bads?\b|widget|newsletter|login|search",
    re.I,
)


def fold_line(line: str) -> str:
    """The form lexicon patterns are written in: Persian letters, single spaces, no ZWNJ.

    >>> fold_line("انتهای‌پیام/  ")
    'انتهای پیام/'
    """
    return _SPACES.sub(" ", line.translate(_FOLD)).strip()


@dataclass(frozen=True)
class Rule:
    kind: str
    name: str
    pattern: re.Pattern


def load_lexicon(path: Path = LEXICON_PATH) -> tuple[str, list[Rule]]:
    """Read the lexicon file: its version and its rules in file order."""
    version, rules = "0", []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.startswith("#"):
            if m := re.search(r"Version:\s*(\S+)", raw):
                version = m.group(1)
            continue
        if not raw.strip():
            continue
        kind, name, pattern = raw.split("\t", 2)
        rules.append(Rule(kind, name, re.compile(pattern)))
    return version, rules


class Stripper:
    """Holds the compiled lexicon; build once per process."""

    def __init__(self, lexicon_path: Path = LEXICON_PATH) -> None:
        self.version, self.rules = load_lexicon(lexicon_path)
        # grouped once here: strip_lines consults them for every line of every document
        self._by_kind = {kind: [r for r in self.rules if r.kind == kind] for kind in {r.kind for r in self.rules}}
        self._whole_line = [r for r in self.rules if r.kind in ("block", "line", "byline")]

    def _rules(self, kind: str) -> list[Rule]:
        return self._by_kind.get(kind, [])

    def strip_lines(self, lines: list[str], title: str | None) -> tuple[list[str], list[StrippedLine], str | None, str | None]:
        """Remove furniture from ``lines``; return kept lines, removed lines, title, outlet."""
        kept: list[str] = []
        removed: list[StrippedLine] = []
        outlet: str | None = None
        seen: set[str] = set()
        in_block = after_end = False
        title_folded = fold_line(title) if title else None

        def drop(i: int, text: str, rule: str) -> None:
            removed.append(StrippedLine(i, text, rule))

        for i, line in enumerate(lines):
            text = line.strip()
            if not text:
                continue
            folded = fold_line(text)
            words = len(folded.split())
            if after_end:
                drop(i, text, "after_end_marker")
                continue
            if in_block and words <= BLOCK_ITEM_MAX_WORDS:
                drop(i, text, "furniture_block_item")
                continue
            in_block = False
            rule = self._match_whole(folded, words)
            if rule is not None:
                if rule.kind == "block":
                    in_block = True
                elif rule.kind == "byline":
                    outlet = outlet or self._outlet_of(rule, folded)
                elif rule.name == "view_at_source":
                    outlet = outlet or folded[: rule.pattern.search(folded).start()].strip() or None
                drop(i, text, rule.name)
                continue
            end = self._end_marker(folded)
            if end is not None:
                head = folded[: end.start()].strip()
                drop(i, text if not head else folded[end.start():], "end_marker")
                after_end = True
                if head:
                    kept.append(head)
                continue
            prefix = self._prefix(folded)
            if prefix is not None:
                rule, m = prefix
                outlet = outlet or (m.group("outlet").strip() if "outlet" in m.groupdict() else None)
                rest = folded[m.end():].strip()
                drop(i, folded[: m.end()].strip(), rule.name)
                if not rest:
                    continue
                text, folded = rest, fold_line(rest)
            if words <= 12 and is_dateline(text):
                drop(i, text, "dateline")
                continue
            if title is None and not kept and words <= TITLE_MAX_WORDS and not text.endswith((".", ":", "؛")):
                title, title_folded = text, folded
                drop(i, text, "title")
                continue
            if title_folded and folded == title_folded:
                drop(i, text, "repeated_title")
                continue
            if folded in seen:
                drop(i, text, "repeated_paragraph")
                continue
            seen.add(folded)
            kept.append(text)
        if outlet is None:
            outlet = detect_outlet("\n".join(kept[:3]))
        return kept, removed, title, outlet

    def _match_whole(self, folded: str, words: int) -> Rule | None:
        if words > FURNITURE_LINE_MAX_WORDS:
            return None
        return next((rule for rule in self._whole_line if rule.pattern.search(folded)), None)

    def _end_marker(self, folded: str) -> re.Match | None:
        for rule in self._rules("end"):
            if m := rule.pattern.search(folded):
                return m
        return None

    def _prefix(self, folded: str) -> tuple[Rule, re.Match] | None:
        for rule in self._rules("prefix"):
            if m := rule.pattern.match(folded):
                return rule, m
        return None

    @staticmethod
    def _outlet_of(rule: Rule, folded: str) -> str | None:
        m = rule.pattern.search(folded)
        return m.group("outlet").strip() if m and "outlet" in m.groupdict() else None

    def strip_document(self, doc: Document) -> Document:
        """Fill ``stripped_text``, ``title``, ``outlet`` and ``stripped`` of a document."""
        title = doc.raw_title
        if doc.file_format == "html":
            page = extract_html(doc.raw_text)
            doc.meta.update(page.meta)
            lines = page.lines
            title = title or page.meta.get("og_title") or page.meta.get("html_title")
        elif doc.file_format == "json":
            record = json.loads(doc.raw_text)
            lines = [str(record.get("abstract") or "")]
            body = record.get("paragraphs") or record.get("body") or record.get("text") or record.get("content")
            lines += [str(p) for p in body] if isinstance(body, list) else str(body).split("\n")
        else:
            lines = doc.raw_text.split("\n")
        kept, removed, title, outlet = self.strip_lines(lines, title.strip() if title else None)
        doc.title = title
        doc.outlet = doc.meta.get("site_name") or outlet or _outlet_from_link(doc.meta.get("link"))
        doc.stripped = removed
        doc.stripped_text = "\n".join(kept)
        doc.meta["datelines"] = [r.line for r in removed if r.rule == "dateline"]
        return doc


_LINK_OUTLETS = {"farsnews.ir": "خبرگزاری فارس", "varzesh3.com": "ورزش سه"}


def _outlet_from_link(link: object) -> str | None:
    if not isinstance(link, str):
        return None
    for domain, name in _LINK_OUTLETS.items():
        if domain in link:
            return name
    return None


def detect_outlet(text: str) -> str | None:
    """The outlet named in an attribution such as «به گزارش خبرگزاری مهر،».

    >>> detect_outlet("به گزارش گروه سیاسی خبرگزاری برنا، به نقل از ...")
    'خبرگزاری برنا'
    """
    m = _ATTRIBUTION.search(fold_line(text))
    return m.group("outlet") if m else None


@dataclass
class Page:
    lines: list[str]
    meta: dict


def _meta(soup, **attrs) -> str | None:
    tag = soup.find("meta", attrs=attrs)
    value = tag.get("content") if tag else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def extract_html(html: str) -> Page:
    """Main content of a saved page as lines (every ZWNJ kept), plus the page's own metadata."""
    from bs4 import BeautifulSoup  # slow import: only in the task that needs it

    soup = BeautifulSoup(html, "lxml")
    meta = {
        "og_title": _meta(soup, property="og:title"),
        "html_title": soup.title.get_text(" ", strip=True) if soup.title else None,
        "published_time": _meta(soup, property="article:published_time") or _meta(soup, itemprop="datePublished"),
        "author": _meta(soup, name="author"),
        "site_name": _meta(soup, property="og:site_name"),
    }
    time_tag = soup.find("time", attrs={"datetime": True})
    if time_tag is not None:
        meta["time_datetime"] = time_tag["datetime"]
    for tag in soup(_NOISE_TAGS):
        tag.decompose()
    for tag in soup.find_all(True):
        if tag.attrs is None:
            continue
        marker = " ".join([*(tag.get("class") or []), tag.get("id") or "", tag.get("role") or ""])
        if marker.strip() and _NOISE_ATTR.search(marker) and tag.name not in ("html", "body", "article"):
            tag.decompose()
    main = (
        soup.find(attrs={"itemprop": "articleBody"})
        or soup.find("article")
        or _densest_container(soup)
        or soup.body
        or soup
    )
    for br in main.find_all("br"):
        br.replace_with("\n")
    for block in main.find_all(_BLOCK_TAGS):
        block.insert_before("\n")
        block.insert_after("\n")
    text = main.get_text("")
    lines = [_SPACES.sub(" ", ln).strip() for ln in text.split("\n")]
    return Page([ln for ln in lines if ln], {k: v for k, v in meta.items() if v})


def _densest_container(soup):
    """The element holding the most paragraph text directly: a common content container."""
    best, best_len = None, 0
    for tag in soup.find_all(["div", "section", "main", "td"]):
        length = sum(len(p.get_text(strip=True)) for p in tag.find_all("p", recursive=False))
        if length > best_len:
            best, best_len = tag, length
    return best
