"""Builds the labelled near-duplicate set from ../shared at run time (see README.md here)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

EDITS = ("retitle", "drop_lead", "merge_paragraphs", "drop_paragraph", "letters", "furniture", "truncate", "contain")
LEADS = ("به گزارش خبرگزاری ایسنا،", "به گزارش ایرنا،", "به گزارش خبرنگار ما،", "به نقل از روابط عمومی،")
RETITLE = ("خبر فوری:", "گزارش تصویری:", "ویدیو:", "")


@dataclass(frozen=True)
class Item:
    item_id: str
    cluster: str
    kind: str  # seed | original | edit name(s) | negative
    text: str


def _records(shared: Path) -> list[dict]:
    out, links, bodies = [], set(), set()
    for folder in ("fars", "varzesh3"):
        for path in sorted((shared / "corpus" / folder).glob("*.json")):
            for i, rec in enumerate(json.loads(path.read_text(encoding="utf-8"))):
                paras = [p.strip() for p in [rec.get("abstract") or "", *(rec.get("paragraphs") or [])] if p and p.strip()]
                body = "\n".join(paras)
                if len(body.split()) < 80 or rec.get("link") in links or body in bodies:
                    continue  # too short to carry a story; the same capture twice
                links.add(rec.get("link"))
                bodies.add(body)
                topic = rec.get("cat") or ""
                tags = tuple(rec.get("tags") or ())
                out.append({"id": f"{folder}/{path.stem}#{i}", "title": rec.get("title") or "", "paras": paras, "topic": topic, "tags": tags})
    return out


def _text(title: str, paras: list[str]) -> str:
    return "\n\n".join([title, *paras]) if title else "\n\n".join(paras)


def _letters(text: str) -> str:
    if "ي" in text or "ك" in text:  # old Fars items: to Persian letters
        return text.replace("ي", "ی").replace("ك", "ک")
    return text.replace("ی", "ي").replace("ک", "ك")


def edit(rec: dict, kinds: tuple[str, ...], rng: random.Random, others: list[dict], filler: dict) -> str:
    """One realistic copy of a record: ``kinds`` applied in a fixed order.

    >>> # "retitle" + "letters": another headline, «کشور» written «كشور»
    """
    title, paras = rec["title"], list(rec["paras"])
    if "retitle" in kinds:
        words = title.split()
        title = (rng.choice(RETITLE) + " " + " ".join(words[: max(3, len(words) * 2 // 3)])).strip()
    if "drop_lead" in kinds and len(paras) > 2:
        paras = paras[1:]
    if "merge_paragraphs" in kinds and len(paras) > 1:
        paras = [" ".join(paras[i : i + 2]) for i in range(0, len(paras), 2)]
    if "drop_paragraph" in kinds and len(paras) > 3:
        del paras[rng.randrange(1, len(paras))]
    if "truncate" in kinds:
        words = "\n".join(paras).split(" ")
        paras = [" ".join(words[: int(len(words) * rng.uniform(0.55, 0.8))])]
    if "furniture" in kinds:
        paras[0] = rng.choice(LEADS) + " " + paras[0]
        paras.append("انتهای پیام")
        paras.append(f"کد خبر: {rng.randrange(100000, 999999)}")
        paras += ["پربیننده ترین خبرها", *(o["title"] for o in rng.sample(others, 4))]
    if "contain" in kinds:
        paras += filler["paras"]
    text = _text(title, paras)
    return _letters(text) if "letters" in kinds else text


def build(shared: Path, split: str = "test", clusters: int = 120, seed: int = 6) -> list[Item]:
    """The labelled items of one split (``dev`` or ``test``), deterministic for a given corpus."""
    rng = random.Random(f"{seed}-{split}")
    records = _records(shared)
    pool = [r for i, r in enumerate(records) if i % 2 == (0 if split == "dev" else 1)]
    rng.shuffle(pool)
    chosen, fillers, rest = pool[:clusters], pool[clusters : 2 * clusters], pool[2 * clusters :]
    items: list[Item] = []
    if split == "test":
        items += _seed_items(shared)
    used = {r["id"] for r in chosen} | {r["id"] for r in fillers}
    for n, rec in enumerate(chosen):
        items.append(Item(rec["id"], rec["id"], "original", _text(rec["title"], rec["paras"])))
        for k in range(rng.randint(1, 4)):
            kinds = tuple(sorted(rng.sample(EDITS, rng.choice((1, 1, 2, 3))), key=EDITS.index))
            items.append(Item(f"{rec['id']}~{k}", rec["id"], "+".join(kinds), edit(rec, kinds, rng, rest, fillers[n])))
        # A hard negative: a different record on the same topic (a shared tag, else the same category).
        same = [r for r in rest if r["id"] not in used and ((set(r["tags"]) & set(rec["tags"])) or (r["topic"] and r["topic"] == rec["topic"]))]
        if same:
            neg = rng.choice(same)
            used.add(neg["id"])
            # Half of them end with the background paragraph the record's "contain" copy carries: distinct
            # stories sharing wire background, the case the containment threshold must not merge.
            paras = neg["paras"] + (fillers[n]["paras"][:1] if n % 2 else [])
            items.append(Item(neg["id"], neg["id"], "negative", _text(neg["title"], paras)))
    return items


def _seed_items(shared: Path) -> list[Item]:
    from khabar.document import Document
    from khabar.normalize import normalize_text
    from khabar.strip import Stripper

    stripper, out = Stripper(), []
    for path in sorted((shared / "seeds").glob("*.txt")):
        doc = stripper.strip_document(Document("d", "f", path.name, 0, "txt", path.read_text(encoding="utf-8")))
        cluster = "seed-000" if path.name[:3] in ("000", "001") else f"seed-{path.name[:3]}"
        out.append(Item(f"seed/{path.name[:3]}", cluster, "seed", normalize_text(doc.stripped_text)))
    return out
