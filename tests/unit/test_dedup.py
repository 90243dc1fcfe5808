from __future__ import annotations

import itertools

import pytest

from khabar.dedup import band_keys, body_hash, compare, fold_for_dedup, minhash, shingles

pytestmark = pytest.mark.unit

BODY = (
    "رئیس ستاد کل نیروهای مسلح گفت با سفر وزیر دفاع جمهوری آذربایجان به ایران روابط نظامی دو کشور "
    "توسعه چشمگیری خواهد یافت و این موجب امنیت هر دو کشور می‌شود به نحوی که مرز دو کشور مرز صلح و دوستی "
    "و توسعه تجارت و رفت و آمد مردم خواهد بود وزیر دفاع آذربایجان نیز گفت در این دیدار درباره موضوعات مهمی صحبت کردیم"
)


def test_arabic_letters_zwnj_and_digits_hash_the_same():
    arabic = BODY.replace("ی", "ي").replace("ک", "ك").replace("\u200c", "")
    assert body_hash(arabic) == body_hash(BODY)
    assert fold_for_dedup("۱۴۰۰ سال") == fold_for_dedup("1400  سال")


def test_contained_copy_is_the_same_story_and_unrelated_text_is_not():
    longer = BODY + " " + "این سخنان در حاشیه نشست خبری در تهران بیان شد و خبرنگاران پرسش‌های متعددی مطرح کردند " * 3
    other = "تیم فوتبال استقلال در دیدار امروز خود مقابل تیم سپاهان در ورزشگاه آزادی به پیروزی رسید و سه امتیاز گرفت " * 2
    assert compare(shingles(BODY), shingles(longer)).same_story
    assert not compare(shingles(BODY), shingles(other)).same_story


def test_minhash_is_deterministic_and_bands_match_for_copies():
    a, b = minhash(shingles(BODY)), minhash(shingles(BODY.replace("ی", "ي")))
    assert (a == b).all()
    assert band_keys(a) == band_keys(b)


def test_minhash_estimates_jaccard():
    half = " ".join(BODY.split()[: len(BODY.split()) // 2])
    sa, sb = shingles(BODY), shingles(half)
    exact = compare(sa, sb).jaccard
    estimate = float((minhash(sa) == minhash(sb)).mean())
    assert abs(estimate - exact) < 0.15


def test_seeds_000_and_001_share_a_story_and_002_to_004_do_not():
    from helpers import SEEDS

    if not SEEDS.is_dir():
        pytest.skip("../shared/seeds is absent")
    from khabar.document import Document
    from khabar.normalize import normalize_text
    from khabar.strip import Stripper

    stripper, sets = Stripper(), {}
    for path in sorted(SEEDS.glob("*.txt")):
        doc = stripper.strip_document(Document("d", "f", path.name, 0, "txt", path.read_text(encoding="utf-8")))
        sets[path.name[:3]] = shingles(normalize_text(doc.stripped_text))
    assert compare(sets["000"], sets["001"]).same_story
    for a, b in itertools.combinations(["000", "002", "003", "004"], 2):
        assert not compare(sets[a], sets[b]).same_story, (a, b)
