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


def build(shared: Path, split: str = "test", clusters: int = 120, seed: int = 6, harder: bool = False) -> list[Item]:
    """The labelled items of one split (``dev`` or ``test``), deterministic for a given corpus; with
    ``harder``, followed by the harder negatives of ``harder_negatives`` (the items before are the same)."""
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
    if harder:
        items += harder_negatives([r for r in rest if r["id"] not in used], random.Random(f"{seed}-{split}-harder"))
    return items


SHARED_BLOCK = (0.25, 0.5, 0.75, 1.0)  # the shared block's length, as a share of the shorter record's words


def harder_negatives(pool: list[dict], rng: random.Random, mined: int = 10, groups: int = 40) -> list[Item]:
    """Different stories that share text, each its own cluster:

    - ``mined_negative``: the ``mined`` pairs of distinct records of the pool whose word 5-grams overlap
      most (the containment of the shorter in the longer, over all LSH candidate pairs): what the corpus
      itself holds of shared boilerplate and follow-ups;
    - ``shared_block_negative``: ``groups`` pairs of records on the same topic (a shared tag or category),
      both followed by the same block of text from a third record of the topic, as match reports carrying
      the same fixture list or notes ending with the same background do; the block is 25, 50, 75 or 100 %
      as long as the shorter record (containment about 0.2, 0.33, 0.43, 0.5).
    """
    import itertools

    from khabar.dedup import band_keys, compare, minhash, shingles

    sets = {r["id"]: shingles("\n".join(r["paras"])) for r in pool}
    buckets: dict[int, list[str]] = {}
    for r in pool:
        for key in band_keys(minhash(sets[r["id"]])):
            buckets.setdefault(key, []).append(r["id"])
    pairs = {tuple(sorted(p)) for ids in buckets.values() for p in itertools.combinations(ids, 2)}
    scored = sorted(pairs, key=lambda p: (-compare(sets[p[0]], sets[p[1]]).containment, p))
    by_id = {r["id"]: r for r in pool}
    out: list[Item] = []
    taken: set[str] = set()
    for a, b in scored:
        if len(out) >= 2 * mined:
            break
        if a in taken or b in taken:
            continue
        taken |= {a, b}
        out += [Item(x, x, "mined_negative", _text(by_id[x]["title"], by_id[x]["paras"])) for x in (a, b)]
    rest = [r for r in pool if r["id"] not in taken]
    rng.shuffle(rest)
    for g in range(groups):
        first = next((r for r in rest if r["id"] not in taken), None)
        if first is None:
            break
        taken.add(first["id"])
        same = [
            r for r in rest
            if r["id"] not in taken and ((set(r["tags"]) & set(first["tags"])) or (r["topic"] and r["topic"] == first["topic"]))
        ]
        if len(same) < 2:
            continue
        second = same[0]
        block_from = max(same[1:10], key=lambda r: len(" ".join(r["paras"]).split()))  # long enough for the block
        taken |= {second["id"], block_from["id"]}
        words = min(len(" ".join(first["paras"]).split()), len(" ".join(second["paras"]).split()))
        block = " ".join(" ".join(block_from["paras"]).split()[: int(words * SHARED_BLOCK[g % len(SHARED_BLOCK)])])
        for rec in (first, second):
            out.append(Item(f"{rec['id']}+block", f"{rec['id']}+block", "shared_block_negative", _text(rec["title"], [*rec["paras"], block])))
    return out


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
