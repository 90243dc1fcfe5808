"""Strip boilerplate: HTML to text, then site furniture out of the body, each removal recorded.

Three layers, each one generalizing further than the one before:

1. **HTML structure** (``extract_html``): the main content is found by ``itemprop=articleBody``,
   ``<article>`` or the container with the most paragraph text net of link text; navigation,
   sidebars, share bars, comment forms, scripts and styles are cut; link lists inside the main
   content go too. Every ZWNJ in the page survives (the text is taken as it is, never re-joined).
2. **The lexicon** ``include/furniture.tsv`` (versioned): end markers, furniture blocks, buttons,
   lead prefixes and datelines, and credits («عکس: ...», «منبع: ...», «خبرنگار: ...»), which go to
   their own columns instead of the body.
3. **Learned per outlet** (``count_outlet_lines`` / ``remove_outlet_furniture``): a line that recurs
   in at least ``min_documents`` documents of one outlet within ``window_days`` is furniture, even
   if no lexicon names it. The counts live in ``reporting.outlet_lines``.

Every removed line keeps the rule that removed it (``reporting.stripped_lines``), so a wrong
removal can be found with SQL.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from khabar.dates import is_dateline
from khabar.document import Document, StrippedLine
from khabar.paths import INCLUDE_DIR

LEXICON_PATH = INCLUDE_DIR / "furniture.tsv"
TITLE_MAX_WORDS = 30
BLOCK_ITEM_MAX_WORDS = 16  # headlines under a «پربیننده ترین خبرها» heading are short
FURNITURE_LINE_MAX_WORDS = 14
CREDIT_RULES = ("byline", "photo_credit", "cited_source")
# Removed, but not lost: these become columns (title, credits) or already stand in the body once.
NOT_LOST_RULES = frozenset({"title", "repeated_title", "dateline", "repeated_paragraph", "no_text", *CREDIT_RULES})
LEARNED_RULE = "outlet_furniture"
LEARN_MAX_CHARS = 400  # longer paragraphs are not counted (they are articles, not furniture)
# Shorter lines and lines ending in a colon are not learned: in the corpus the lines recurring most in
# one outlet are subheadings of match reports («ترکیب احتمالی:», «شرح گل:», «لحظات حساس»), which are body.
LEARN_MIN_WORDS = 3

_FOLD = str.maketrans({"ي": "ی", "ى": "ی", "ك": "ک", "ة": "ه", "\u200c": " ", "\u200f": None, "\u200e": None, "ـ": None})
_LIGHT = str.maketrans({"\u200f": None, "\u200e": None, "ـ": None})
_SPACES = re.compile(r"\s+")
# _FOLD as (character, replacement) pairs: a replace per character present is many times faster than
# ``str.translate`` with a dict on Persian text, and gives the same result (no replacement is a key).
_FOLD_PAIRS = tuple((chr(k), v or "") for k, v in _FOLD.items())
_HAS_TEXT = re.compile(r"\w")
_ATTRIBUTION = re.compile(
    r"به گزارش (?:[^،,:]{0,60}? )?(?P<outlet>(?:خبرگزاری|پایگاه خبری|روزنامه|سایت|شبکه|پایگاه اطلاع رسانی) [^،,:\s]+(?: (?!از |به |در |و )[^،,:\s]+){0,2})"
    r"|به گزارش [\"«“](?P<quoted>[^\"»”]{2,30})[\"»”]"
    r"|به گزارش (?P<short>فارس|مهر|ایسنا|ایرنا|تسنیم|ایلنا|برنا|آنا|ورزش سه|خبرآنلاین|تابناک|انتخاب|فرارو|عصر ایران)\s*(?:،|,| به نقل)"
)
_CITED = re.compile(r"به نقل از (?P<source>[^،,:.؛]{2,60}?)\s*(?:[،,:.؛]|$)")
_BLOCK_TAGS = ("p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "br", "tr", "blockquote", "section", "article", "time", "figcaption", "dd", "dt")
_NOISE_TAGS = (
    "script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe", "button", "svg",
    "select", "input", "textarea", "template", "label", "object", "embed", "link", "meta",
)
_NOISE_ATTR = re.compile(
    r"menu|nav|footer|header|sidebar|share|social|comment|related|tags?\b|print|breadcrumb|copyright|"
    r"most|popular|banner|advert|\bads?\b|widget|newsletter|login|search|latest|ticker|marquee|poll|subscribe|"
    r"popup|modal|cookie|pagination|pager|mortabet|porbazdid|porbinande|nazar|sharing|toolbar|tools\b",
    re.I,
)
_LEAD_ATTR = re.compile(r"lead|\blid\b|summary|abstract|subtitle|intro|teaser|rotitr|sotitr|chekide|description", re.I)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)

# Domains whose outlet we know by name; any other domain names the outlet by itself.
_DOMAIN_OUTLETS = {
    "farsnews.ir": "خبرگزاری فارس", "farsnews.com": "خبرگزاری فارس", "varzesh3.com": "ورزش سه",
    "mehrnews.com": "خبرگزاری مهر", "irna.ir": "خبرگزاری ایرنا", "isna.ir": "خبرگزاری ایسنا",
    "tasnimnews.com": "خبرگزاری تسنیم", "alalam.ir": "شبکه خبری العالم", "khabaronline.ir": "خبرآنلاین",
    "hamshahrionline.ir": "همشهری آنلاین", "tabnak.ir": "تابناک", "asriran.com": "عصر ایران",
    "entekhab.ir": "انتخاب", "fararu.com": "فرارو", "yjc.ir": "باشگاه خبرنگاران جوان", "yjc.news": "باشگاه خبرنگاران جوان",
    "borna.news": "خبرگزاری برنا", "ana.press": "خبرگزاری آنا", "ilna.ir": "خبرگزاری ایلنا", "ilna.news": "خبرگزاری ایلنا",
}


def fold_line(line: str) -> str:
    """The form lexicon patterns are written in: Persian letters, single spaces, no ZWNJ.

    >>> fold_line("انتهای‌پیام/  ")
    'انتهای پیام/'
    """
    for char, repl in _FOLD_PAIRS:
        if char in line:
            line = line.replace(char, repl)
    return " ".join(line.split())  # = _SPACES.sub(" ", line).strip(): both split on str.isspace()


def line_key(line: str) -> str:
    """A stable key for a line across documents and runs: md5 of its folded form.

    >>> line_key("کانال تلگرام ما") == line_key("كانال  تلگرام ما")
    True
    """
    return hashlib.md5(fold_line(line).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StripSettings:
    """Thresholds of the strip stage, from the environment (defaults in brackets):
    ``NEWS_FURNITURE_MIN_DOCUMENTS`` [5] documents of one outlet a line must recur in to be learned
    furniture, ``NEWS_FURNITURE_WINDOW_DAYS`` [30] days of earlier runs that count as evidence,
    ``NEWS_REVIEW_LOSS_SHARE`` [0.5] share of its text an article may lose before it is flagged."""

    min_documents: int = 5
    window_days: int = 30
    review_loss_share: float = 0.5

    @classmethod
    def from_env(cls) -> StripSettings:
        env = os.environ
        return cls(
            min_documents=int(env.get("NEWS_FURNITURE_MIN_DOCUMENTS", cls.min_documents)),
            window_days=int(env.get("NEWS_FURNITURE_WINDOW_DAYS", cls.window_days)),
            review_loss_share=float(env.get("NEWS_REVIEW_LOSS_SHARE", cls.review_loss_share)),
        )


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


def gate_patterns(kinds: tuple[str, ...] = ("end", "block", "line"), path: Path = LEXICON_PATH) -> list[str]:
    """The lexicon's patterns of the given kinds in a form PostgreSQL's regex engine reads, for the
    strip gate (named groups become plain groups)."""
    _, rules = load_lexicon(path)
    return [re.sub(r"\(\?P<\w+>", "(", r.pattern.pattern) for r in rules if r.kind in kinds]


@dataclass
class StripResult:
    kept: list[tuple[int, str]]
    removed: list[StrippedLine]
    title: str | None
    outlet: str | None
    credits: dict[str, list[str]] = field(default_factory=dict)


class Stripper:
    """Holds the compiled lexicon; build once per process."""

    def __init__(self, lexicon_path: Path = LEXICON_PATH) -> None:
        self.version, self.rules = load_lexicon(lexicon_path)
        # grouped once here: strip_lines consults them for every line of every document
        self._by_kind = {kind: [r for r in self.rules if r.kind == kind] for kind in {r.kind for r in self.rules}}
        self._whole_line = [r for r in self.rules if r.kind in ("block", "line", "byline")]

    def _rules(self, kind: str) -> list[Rule]:
        return self._by_kind.get(kind, [])

    def strip_lines(self, lines: list[str], title: str | None) -> StripResult:
        """Remove furniture from ``lines``: kept lines with their numbers, removed lines with their
        rule, the title, the outlet and the credits found.

        >>> r = Stripper().strip_lines(["خبرگزاری فارس: متن خبر.", "عکس: رضا سعیدی‌پور", "انتهای پیام/"], "تیتر")
        >>> [t for _, t in r.kept], r.outlet, r.credits["photo_credit"]
        (['متن خبر.'], 'خبرگزاری فارس', ['رضا سعیدی‌پور'])
        """
        kept: list[tuple[int, str]] = []
        removed: list[StrippedLine] = []
        credits: dict[str, list[str]] = {}
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
            credit = self._credit(text, folded)
            if credit is not None:
                rule, value = credit
                if value not in credits.setdefault(rule, []):
                    credits[rule].append(value)
                drop(i, text, rule)
                continue
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
                    kept.append((i, _light_tail(text, head, from_start=True)))
                continue
            prefix = self._prefix(folded)
            if prefix is not None:
                rule, m = prefix
                outlet = outlet or (m.group("outlet").strip() if "outlet" in m.groupdict() else None)
                rest = folded[m.end():].strip()
                drop(i, folded[: m.end()].strip(), rule.name)
                if not rest:
                    continue
                # keep the rest as written (its ZWNJs), not in folded form
                text, folded = _light_tail(text, rest), rest
            if not _HAS_TEXT.search(folded):
                drop(i, text, "no_text")  # a lone «.» or «***»: nothing to keep
                continue
            if words <= 12 and is_dateline(text):
                drop(i, text, "dateline")
                continue
            if title is None and not kept and words <= TITLE_MAX_WORDS and not text.endswith((".", ":", "؛")):
                title, title_folded = text, folded
                drop(i, text, "title")
                continue
            # the title as the page writes it («ورزش سه - تیتر خبر» in <title>) holds the headline line
            if title_folded and (folded == title_folded or (words >= 4 and folded in title_folded and len(folded) >= 0.5 * len(title_folded))):
                drop(i, text, "repeated_title")
                continue
            if folded in seen:
                drop(i, text, "repeated_paragraph")
                continue
            seen.add(folded)
            kept.append((i, text))
        if outlet is None:
            outlet = detect_outlet("\n".join(t for _, t in kept[:3]))
        return StripResult(kept, removed, title, outlet, credits)

    def _credit(self, text: str, folded: str) -> tuple[str, str] | None:
        if len(folded) > 100:
            return None
        for rule in self._rules("credit"):
            if m := rule.pattern.match(folded):
                return rule.name, _light_tail(text, m.group("value").strip())
        return None

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

    def strip_document(self, doc: Document, review_loss_share: float = StripSettings.review_loss_share) -> Document:
        """Fill ``stripped_text``, ``title``, ``outlet``, the credit columns, ``text_loss`` and
        ``needs_review`` of a document, and ``stripped`` with every removed line and its rule."""
        title = doc.raw_title
        dom_removed: list[tuple[str, str]] = []
        if doc.file_format == "html":
            page = extract_html(doc.raw_text)
            doc.meta.update(page.meta)
            lines, dom_removed = page.lines, page.removed
            title = title or page.meta.get("title")
        elif doc.file_format == "json":
            record = json.loads(doc.raw_text)
            lines = [str(record.get("abstract") or "")]
            body = record.get("paragraphs") or record.get("body") or record.get("text") or record.get("content")
            lines += [str(p) for p in body] if isinstance(body, list) else str(body).split("\n")
        else:
            lines = doc.raw_text.split("\n")
        result = self.strip_lines(lines, title.strip() if title else None)
        doc.title = result.title
        doc.stripped = result.removed + [StrippedLine(len(lines) + k, t, r) for k, (t, r) in enumerate(dom_removed)]
        doc.kept_line_nos = [i for i, _ in result.kept]
        doc.stripped_text = "\n".join(t for _, t in result.kept)
        doc.meta["datelines"] = [r.line for r in result.removed if r.rule == "dateline"]
        _set_outlet_and_credits(doc, result)
        update_text_loss(doc, review_loss_share)
        return doc


def _light_tail(text: str, folded_part: str, from_start: bool = False) -> str:
    """The part of ``text`` as written (ZWNJs kept) that a folded span covers: the tail of the line
    (or its head with ``from_start``) as long as ``folded_part``, mapped back character by character.

    >>> _light_tail("خبرگزاری فارس: همکاری‌ها  ادامه می‌یابد", "همکاری ها ادامه می یابد")
    'همکاری‌ها  ادامه می‌یابد'
    """
    chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        ch = ch.translate(_FOLD)
        if not ch:
            continue
        if ch.isspace():
            if not chars or chars[-1] == " ":
                continue
            ch = " "
        chars.append(ch)
        origin.append(i)
    while chars and chars[-1] == " ":
        chars.pop()
        origin.pop()
    folded = "".join(chars)
    n = len(folded_part)
    if not n or n > len(folded):
        return folded_part
    if from_start and folded[:n] == folded_part:
        return text[origin[0]: origin[n - 1] + 1].strip()
    if not from_start and folded[len(folded) - n:] == folded_part:
        return text[origin[len(folded) - n]: origin[-1] + 1].strip()
    return folded_part


def _set_outlet_and_credits(doc: Document, result: StripResult) -> None:
    site = doc.meta.get("site_name")
    link = doc.meta.get("url") or doc.meta.get("link")
    known_domain = _outlet_from_link(link, known_only=True)
    doc.outlet = site or known_domain or result.outlet or _outlet_from_link(link)
    credits = result.credits
    doc.byline = "؛ ".join(credits.get("byline", [])) or _author_byline(doc.meta.get("author"), doc.outlet, site)
    doc.photo_credit = "؛ ".join(credits.get("photo_credit", [])) or None
    cited = "؛ ".join(credits.get("cited_source", [])) or None
    if cited is None:
        # «به گزارش خبرگزاری مهر» on a page of another outlet, or «به نقل از ...»: the relayed source
        lead = "\n".join(doc.stripped_text.split("\n")[:3])
        named = detect_outlet(lead)
        if named and doc.outlet and not _same_outlet(named, doc.outlet):
            cited = named
        else:
            cited = detect_cited_source(lead)
    doc.cited_source = cited


def _same_outlet(a: str, b: str) -> bool:
    fa, fb = fold_line(a), fold_line(b)
    return fa in fb or fb in fa


def _author_byline(author: object, outlet: str | None, site: str | None) -> str | None:
    """``<meta name="author">`` is a byline unless it only names the outlet (as many sites do)."""
    if not isinstance(author, str) or not author.strip():
        return None
    a = fold_line(author)
    for name in (outlet, site):
        if name and (a in fold_line(name) or fold_line(name) in a):
            return None
    return author.strip()


def update_text_loss(doc: Document, review_loss_share: float) -> None:
    """``text_loss``: characters removed as furniture over all characters of the article's text (for
    HTML, the main content: page chrome cut by structure, rules ``html_*``, does not count); titles,
    datelines, repeats and credits are not lost (they are columns or stand in the body once).
    Above ``review_loss_share`` the article is kept but ``needs_review`` is set."""
    kept = len(doc.stripped_text or "")
    text_stage = [s for s in doc.stripped if not s.rule.startswith("html_")]  # page chrome is not the article's text
    lost = sum(len(s.line) for s in text_stage if s.rule not in NOT_LOST_RULES)
    others = sum(len(s.line) for s in text_stage if s.rule in NOT_LOST_RULES)
    total = kept + lost + others
    doc.text_loss = round(lost / total, 4) if total else 0.0
    doc.needs_review = doc.text_loss > review_loss_share


# ------------------------------------------------------------------------------ learned furniture


def count_outlet_lines(docs: Iterable[Document]) -> dict[tuple[str, str], tuple[str, int]]:
    """In how many documents of each outlet each kept line occurs: ``(outlet, line_key) -> (line, n)``.

    A document counts once per line, and exact copies of a body count once (a story captured twice
    is not evidence that its lines are furniture).
    """
    counts: Counter[tuple[str, str]] = Counter()
    sample: dict[tuple[str, str], str] = {}
    bodies: set[tuple[str, str]] = set()
    for doc in docs:
        if not doc.outlet or not doc.stripped_text:
            continue
        body = (doc.outlet, hashlib.sha256(fold_line(doc.stripped_text).encode()).hexdigest())
        if body in bodies:
            continue
        bodies.add(body)
        keys = {}
        for line in doc.stripped_text.split("\n"):
            if _learnable(line):
                keys.setdefault(line_key(line), line.strip())
        for key, line in keys.items():
            counts[(doc.outlet, key)] += 1
            sample.setdefault((doc.outlet, key), line)
    return {k: (sample[k], n) for k, n in sorted(counts.items())}


def _learnable(line: str) -> bool:
    """A line that may become learned furniture: 3+ words, at most 400 characters, not a subheading.

    >>> _learnable("کانال تلگرام ما را دنبال کنید"), _learnable("ترکیب احتمالی:"), _learnable("شرح بازی اول تیم:")
    (True, False, False)
    """
    text = line.strip()
    return len(text) <= LEARN_MAX_CHARS and len(text.split()) >= LEARN_MIN_WORDS and not text.endswith((":", "："))


def remove_outlet_furniture(doc: Document, furniture: set[tuple[str, str]], review_loss_share: float) -> int:
    """Move the document's lines that are learned furniture of its outlet to ``stripped`` (rule
    ``outlet_furniture``); return how many went."""
    if not doc.outlet or not doc.stripped_text:
        return 0
    lines = doc.stripped_text.split("\n")
    numbers = doc.kept_line_nos if len(doc.kept_line_nos) == len(lines) else list(range(len(lines)))
    kept, kept_nos, gone = [], [], 0
    used = {s.line_no for s in doc.stripped}
    spare = max(used | set(numbers), default=0) + 1  # for a line whose prefix was already recorded under its number
    for no, line in zip(numbers, lines, strict=True):
        if (doc.outlet, line_key(line)) in furniture:
            if no in used:
                no, spare = spare, spare + 1
            doc.stripped.append(StrippedLine(no, line, LEARNED_RULE))
            gone += 1
        else:
            kept.append(line)
            kept_nos.append(no)
    if gone:
        doc.stripped.sort(key=lambda s: s.line_no)
        doc.stripped_text, doc.kept_line_nos = "\n".join(kept), kept_nos
        update_text_loss(doc, review_loss_share)
    return gone


# ------------------------------------------------------------------------------ outlet


def _outlet_from_link(link: object, known_only: bool = False) -> str | None:
    """The outlet a page's address names: a known domain by its name, any other by the domain.

    >>> _outlet_from_link("https://www.farsnews.ir/news/13960807000572")
    'خبرگزاری فارس'
    """
    if not isinstance(link, str) or "." not in link:
        return None
    host = (urlsplit(link if "//" in link else "//" + link).hostname or "").lower()
    host = host.removeprefix("www.").removeprefix("m.")
    for domain, name in _DOMAIN_OUTLETS.items():
        if host == domain or host.endswith("." + domain):
            return name
    return None if known_only or not host else host


def detect_outlet(text: str) -> str | None:
    """The outlet named in an attribution such as «به گزارش خبرگزاری مهر،».

    >>> detect_outlet("به گزارش گروه سیاسی خبرگزاری برنا، به نقل از ...")
    'خبرگزاری برنا'
    >>> detect_outlet('به گزارش "ورزش سه"، استقلال ...')
    'ورزش سه'
    """
    m = _ATTRIBUTION.search(fold_line(text))
    if not m:
        return None
    return (m.group("outlet") or m.group("quoted") or m.group("short")).strip()


def detect_cited_source(text: str) -> str | None:
    """The source an attribution relays: «به نقل از ...».

    >>> detect_cited_source("به گزارش فارس به نقل از وزارت ارتباطات و فناوری اطلاعات، وارسته گفت")
    'وزارت ارتباطات و فناوری اطلاعات'
    """
    m = _CITED.search(fold_line(text))
    return m.group("source").strip() if m else None


# ------------------------------------------------------------------------------ HTML


@dataclass
class Page:
    lines: list[str]
    meta: dict
    removed: list[tuple[str, str]] = field(default_factory=list)  # (text, rule): html_noise, html_link_list, html_outside_main


def _page_meta(soup) -> dict:
    # One walk over the page's elements collects what four searches found (``find_all("meta")``,
    # ``find("link", rel="canonical")``, ``.title``, ``find("time", attrs={"datetime": True})``): the
    # <meta> tags in order and the first of each other kind, matched as bs4 matches them.
    from bs4 import Tag

    found: dict[str, str] = {}
    canonical = title = time_tag = None
    for tag in soup.descendants:
        if not isinstance(tag, Tag):
            continue
        kind = tag.name
        if kind == "meta":
            name = tag.get("property") or tag.get("name") or tag.get("itemprop")
            value = tag.get("content")
            if isinstance(name, str) and isinstance(value, str) and value.strip():
                found.setdefault(name.lower(), value.strip())
        elif kind == "link" and canonical is None:
            rel = tag.get("rel")
            if "canonical" in (rel if isinstance(rel, list) else [rel]):  # one of its values, as bs4 matches
                canonical = tag
        elif kind == "title" and title is None:
            title = tag
        elif kind == "time" and time_tag is None and tag.get("datetime") is not None:
            time_tag = tag
    meta = {
        "og_title": found.get("og:title"),
        "html_title": title.get_text(" ", strip=True) if title else None,
        "published_time": found.get("article:published_time") or found.get("datepublished"),
        "author": found.get("author") or found.get("article:author"),
        "site_name": found.get("og:site_name"),
        "url": found.get("og:url") or (canonical.get("href") if canonical else None),
    }
    if time_tag is not None:
        meta["time_datetime"] = time_tag["datetime"]
    return meta


@dataclass
class _Stats:
    text: int  # characters of text under the element
    links: int  # of which inside <a>
    direct: int  # paragraph text the element holds directly, net of link text (its content score)
    has_block: bool  # holds block containers (p, div, lists, tables)


_WATCHED = frozenset(("div", "section", "main", "td", "article", "h1", "ul", "ol", "table", "p", "dl"))
_NONE = _Stats(0, 0, 0, False)
_LISTISH = frozenset(("ul", "ol", "div", "section", "table", "p", "dl"))  # an element the walk did not measure (outside <body>)
_CONTAINERS = ("div", "section", "main", "td", "article")
_CODE_TAGS = frozenset(("script", "style", "noscript", "template", "svg", "link", "meta", "object", "embed", "iframe"))
_TEXT_CHILDREN = ("p", "blockquote", "h2", "h3", "h4", "pre", "span", "strong", "b", "em", "font")
_BLOCKY = frozenset(("p", "div", "ul", "ol", "table"))


def _is_noise(tag) -> bool:
    if tag.name in _NOISE_TAGS:
        return True
    attrs = tag.attrs
    if not attrs or tag.name in ("html", "body") or attrs.get("itemprop") == "articleBody":
        return False
    classes = attrs.get("class") or []
    marker = " ".join([*(classes if isinstance(classes, list) else [classes]), attrs.get("id") or "", attrs.get("role") or ""])
    if marker.strip() and tag.name != "article" and _NOISE_ATTR.search(marker):
        return True
    return bool(_HIDDEN_STYLE.search(attrs.get("style") or ""))


def _prune_and_measure(tag, stats: dict[int, _Stats], cut: list[tuple[str, str]], seen: dict[str, list]) -> _Stats:
    """Cut noise elements (navigation, share bars, forms, scripts, hidden boxes), keeping their text
    in ``cut`` (code elements excepted), and measure what is left, bottom-up, in one walk."""
    from bs4 import CData, NavigableString, Tag

    text = links = direct = 0
    has_block = False
    for child in list(tag.children):
        if isinstance(child, Tag):
            if _is_noise(child):
                if child.name not in _CODE_TAGS:
                    cut += [(ln, "html_noise") for ln in _block_lines(child)]
                child.decompose()
                continue
            if child.name in _WATCHED:
                seen.setdefault(child.name, []).append(child)
                if child.name in _LISTISH:
                    seen.setdefault("listish", []).append(child)
            if child.attrs.get("itemprop") == "articleBody":
                seen.setdefault("articleBody", []).append(child)
            st = _prune_and_measure(child, stats, cut, seen)
            text += st.text
            has_block = has_block or st.has_block or child.name in _BLOCKY
            if child.name == "a":
                links += st.text
                direct -= st.text
            else:
                links += st.links
                if child.name in _TEXT_CHILDREN or (child.name == "div" and not st.has_block):
                    direct += st.text - 2 * st.links
        elif type(child) in (NavigableString, CData):
            n = len(child.strip())
            text += n
            direct += n
    st = _Stats(text, links, direct, has_block)
    stats[id(tag)] = st
    return st


def _main_container(stats: dict[int, _Stats], seen: dict[str, list]):
    bodies = seen.get("articleBody")
    if bodies:
        return max(bodies, key=lambda t: stats.get(id(t), _NONE).text)
    best, best_score = None, 0
    for name in _CONTAINERS:
        for tag in seen.get(name, ()):
            score = stats.get(id(tag), _NONE).direct
            if score > best_score:
                best, best_score = tag, score
    articles = seen.get("article")
    if articles:
        article = max(articles, key=lambda a: stats.get(id(a), _NONE).text - stats.get(id(a), _NONE).links)
        # a page of teasers wrapped in <article> tags: the densest container wins over a small one
        if (
            best is None or article is best or any(p is article for p in best.parents)
            or stats.get(id(article), _NONE).text >= 0.5 * best_score
        ):
            return article
    return best


def extract_html(html: str) -> Page:
    """Main content of a saved page as lines (every ZWNJ kept), plus the page's own metadata.

    >>> extract_html('<html><body><nav>خانه</nav><article><p>متن می‌ماند.</p></article></body></html>').lines
    ['متن می‌ماند.']
    """
    from bs4 import BeautifulSoup  # slow import: only in the task that needs it

    soup = BeautifulSoup(html, "lxml")
    meta = _page_meta(soup)
    stats: dict[int, _Stats] = {}
    cut: list[tuple[str, str]] = []
    seen: dict[str, list] = {}  # the elements the choices below need, in document order
    body = soup.body  # a tree search each time it is read: read once (pruning never removes <body>)
    _prune_and_measure(body or soup, stats, cut, seen)
    main = _main_container(stats, seen) or body or soup
    headings = seen.get("h1", [])
    heading = next((h for h in headings if any(p is main for p in h.parents)), headings[0] if headings else None)
    if heading is not None and heading.get_text(strip=True):
        meta["h1"] = " ".join(heading.get_text(" ").split())
    meta["title"] = meta.get("h1") or meta.get("og_title") or meta.get("html_title")
    leads = _leads_beside(main, stats)
    removed = _cut_link_lists(main, stats, seen)
    lines = [ln for block in [*leads, main] for ln in _block_lines(block)]
    # what stays on the page is the rest of it (header, sidebars, footer): recorded, not kept
    if body is not None and main is not body and main is not soup:
        for block in (*leads, main):
            block.extract()
        removed += [(ln, "html_outside_main") for ln in _block_lines(body)]
    return Page(lines, {k: v for k, v in meta.items() if v}, cut + removed)


def _leads_beside(main, stats: dict[int, _Stats]) -> list:
    """A lead kept in its own box just before the body container: marked as one («lead», «summary»,
    «rotitr»), or a plain text box of at least a sentence with few links."""
    if main.parent is None:
        return []
    out = []
    for sib in main.find_previous_siblings(True, limit=3):
        st = stats.get(id(sib))
        if st is None or not st.text:
            continue
        marker = " ".join([*(sib.get("class") or []), sib.get("id") or ""])
        marked = bool(marker and _LEAD_ATTR.search(marker))
        plain = sib.name in ("div", "p", "section") and not st.has_block and st.text >= 60 and st.links < 0.2 * st.text
        if marked or plain:
            out.insert(0, sib)
    return out


def _cut_link_lists(main, stats: dict[int, _Stats], seen: dict[str, list]) -> list[tuple[str, str]]:
    """Blocks inside the main content whose text is mostly links (related headlines, tag clouds)."""
    removed: list[tuple[str, str]] = []
    gone: list = []
    for tag in seen.get("listish", ()):  # document order: a list is seen before the lists inside it
        st = stats.get(id(tag))
        if not st or not st.text or st.links < 0.5 * st.text:
            continue
        parents = list(tag.parents)
        if any(p is main for p in parents) and not any(p is g for p in parents for g in gone):
            removed += [(ln, "html_link_list") for ln in _block_lines(tag)]
            gone.append(tag)
    for tag in gone:
        tag.decompose()
    return removed


def _block_lines(tag) -> list[str]:
    """The element's text as lines: a line break at every block element and <br>; the text itself
    untouched (ZWNJs and all), only runs of spaces made one."""
    from bs4 import CData, NavigableString, Tag

    parts: list[str] = []

    def walk(node) -> None:
        for child in node.children:
            if isinstance(child, Tag):
                if child.name == "br":
                    parts.append("\n")
                elif child.name in _BLOCK_TAGS:
                    parts.append("\n")
                    walk(child)
                    parts.append("\n")
                else:
                    walk(child)
            elif type(child) in (NavigableString, CData):
                parts.append(str(child))

    walk(tag)
    lines = [" ".join(ln.split()) for ln in "".join(parts).split("\n")]
    return [ln for ln in lines if ln]
