"""Date tagging: our accuracy and coverage beside dateparser 1.5.0 on the same inputs.

1. The labelled strings (tests/data/dates/strings.tsv): ``khabar.dates.find_dates(text, reference)``,
   first match, against ``dateparser.parse(text, languages=['fa'], settings={'RELATIVE_BASE': ...})``
   and the first result of ``dateparser.search.search_dates(text, languages=['fa'], settings=...)``.
2. The labelled documents (tests/data/dates/documents.jsonl): ``tag_date(meta, datelines, path, run_day)``
   against ``dateparser.parse(value, languages=['fa'])`` over the same evidence values in the same order
   of trust (metadata, datelines, link, file name, record field), first value it parses.
3. Fars records of ../shared/corpus (their news ids give the truth, read here by a separate parser):
   (a) the pipeline's own path: ingest.parse_file → Stripper → header_datelines → tag_date, as news_ingest
       runs them;
   (b) the link alone: tag_date({'link': link}) against dateparser.parse(link) and search_dates(link);
   (c) the record's text alone (title, abstract, paragraphs, as the crawler gives it): tag_date with
       the text's dateline-like lines (is_dateline) against the first result of search_dates(text).
4. Varzesh3 records of ../shared/corpus (no publication date anywhere): how many the pipeline path dates anyway.

Run by hand: ``make bench-dates`` or
``PYTHONPATH=plugins python benchmarks/bench_dates.py [--shared ../shared] [--run-day 2025-01-01]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
import warnings
from datetime import date, datetime
from pathlib import Path

import jdatetime

PROJECT = Path(__file__).resolve().parents[1]
LABELLED = PROJECT / "tests" / "data" / "dates"


def jalali(day: date | None) -> str | None:
    if day is None:
        return None
    try:
        j = jdatetime.date.fromgregorian(date=day)
    except ValueError:  # dateparser can return the year 1402 AD or earlier: wrong, but not a Jalali day
        return f"gregorian {day.isoformat()}"
    return f"{j.year:04d}-{j.month:02d}-{j.day:02d}"


def score(pairs: list[tuple[date | str | None, date | str | None, int]]) -> dict[str, int]:
    """(expected, got, tolerance) → correct / wrong / missed. A date where none is expected is wrong."""
    out = {"correct": 0, "wrong": 0, "missed": 0, "exact": 0}
    for expected, got, tolerance in pairs:
        if expected is None:
            out["correct" if got is None else "wrong"] += 1
            out["exact"] += got is None
        elif got is None:
            out["missed"] += 1
        elif isinstance(expected, date):
            diff = abs((got - expected).days)
            out["correct" if diff <= tolerance else "wrong"] += 1
            out["exact"] += diff == 0
        else:
            out["correct" if got == expected else "wrong"] += 1
            out["exact"] += got == expected
    return out


def line(name: str, s: dict[str, int], total: int) -> str:
    return (f"  {name:<44} correct {s['correct']:>4}/{total}  wrong {s['wrong']:>4}  missed {s['missed']:>4}"
            f"  (exact day {s['exact']})")


def labelled_strings() -> None:
    import dateparser
    from dateparser.search import search_dates

    from khabar.dates import find_dates

    rows = []
    for raw in (LABELLED / "strings.tsv").read_text(encoding="utf-8").splitlines():
        if raw.startswith("#") or not raw.strip():
            continue
        row_id, text, reference, expected, _calendar, tolerance, _note = raw.split("\t")
        ref = None if reference == "-" else date.fromisoformat(reference)
        rows.append((row_id, text, ref, None if expected == "-" else date.fromisoformat(expected), int(tolerance)))
    ours, parsed, searched, wrong_ours = [], [], [], []
    for row_id, text, ref, expected, tolerance in rows:
        found = find_dates(text, reference=ref)
        got = found[0].day if found else None
        ours.append((expected, got, tolerance))
        if (expected is None) != (got is None) or (expected and got and abs((got - expected).days) > tolerance):
            wrong_ours.append(row_id)
        elif expected and got and got != expected:
            wrong_ours.append(f"{row_id} (within its {tolerance}-day tolerance: {got} for {expected})")
        settings = {"RELATIVE_BASE": datetime.combine(ref, datetime.min.time())} if ref else {}
        p = dateparser.parse(text, languages=["fa"], settings=settings)
        parsed.append((expected, p.date() if p else None, tolerance))
        s = search_dates(text, languages=["fa"], settings=settings)
        searched.append((expected, s[0][1].date() if s else None, tolerance))
    n, dated = len(rows), sum(1 for r in rows if r[3] is not None)
    print(f"1. Labelled strings: {n} rows ({dated} name a day, {n - dated} name none)")
    print(line("khabar find_dates (first match)", score(ours), n))
    print(line("dateparser.parse(languages=['fa'])", score(parsed), n))
    print(line("dateparser search_dates(languages=['fa'])[0]", score(searched), n))
    print(f"  khabar rows not exact: {wrong_ours or 'none'}")


def labelled_documents() -> None:
    import dateparser

    from khabar.dates import TEHRAN, tag_date

    docs = [json.loads(x) for x in (LABELLED / "documents.jsonl").read_text(encoding="utf-8").splitlines()]
    ours, theirs, misses = [], [], []
    for doc in docs:
        run_day = date.fromisoformat(doc["run_day"])
        result = tag_date(doc["meta"], doc["datelines"], doc["source_path"], run_day)
        ours.append((doc["expected_jalali"], result.published_jalali, 0))
        if result.published_jalali != doc["expected_jalali"]:
            misses.append(doc["id"])
        meta = doc["meta"]
        values = [meta.get(k) for k in ("published_time", "date_published", "time_datetime")] + doc["datelines"]
        values += [meta.get("link"), doc["source_path"], meta.get("date")]
        got = None
        for value in values:
            if isinstance(value, str) and (p := dateparser.parse(value, languages=["fa"])):
                got = jalali((p if p.tzinfo else p.replace(tzinfo=TEHRAN)).astimezone(TEHRAN).date())
                break
        theirs.append((doc["expected_jalali"], got, 0))
    n = len(docs)
    print(f"2. Labelled documents: {n} ({sum(1 for d in docs if d['expected_jalali'])} with a publication date)")
    print(line("khabar tag_date", score(ours), n))
    print(line("dateparser.parse over the same evidence", score(theirs), n))
    print(f"  khabar documents wrong: {misses or 'none'}")


_ID = re.compile(r"/news/(\d+)")


def fars_truth(link: str) -> str | None:
    """The Jalali day a Fars id states, by the documented forms only (yymmdd…, yyyymmdd…)."""
    digits = _ID.search(link).group(1)
    if len(digits) == 14:
        return f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}"
    if len(digits) == 10 and 81 <= int(digits[:2]) <= 99:
        return f"13{digits[:2]}-{digits[2:4]}-{digits[4:6]}"
    return None


def fars_corpus(shared: Path, run_day: date) -> None:
    import dateparser
    from dateparser.search import search_dates

    from khabar.dates import header_datelines, is_dateline, tag_date
    from khabar.ingest import parse_file
    from khabar.strip import Stripper

    stripper = Stripper()
    files = sorted((shared / "corpus" / "fars").glob("fars-news-*.json"))
    if not files:
        print(f"3. Fars corpus: absent under {shared}")
        return
    pipeline, link_ours, link_parse, link_search, text_ours, text_search = [], [], [], [], [], []
    undocumented, pipeline_wrong = [], []
    t_ours = t_dp = 0.0
    for path in files:
        raw = path.read_text(encoding="utf-8")
        records = json.loads(raw)
        started = time.perf_counter()
        docs, _ = parse_file(f"{run_day.isoformat()}/fars/{path.name}", raw, "json", path.name)
        for doc in docs:
            stripper.strip_document(doc)
        results = [
            tag_date(d.meta, header_datelines(d.raw_text, d.meta.get("datelines") or [], d.stripped_text or ""),
                     d.source_path, run_day)
            for d in docs
        ]
        t_ours += time.perf_counter() - started
        for record, result in zip(records, results, strict=True):
            link = record["link"]
            truth = fars_truth(link)
            if truth is None:
                undocumented.append((link, result.published_jalali, result.confidence))
                continue
            pipeline.append((truth, result.published_jalali, 0))
            if result.published_jalali != truth:
                pipeline_wrong.append((link, truth, result.published_jalali, result.reason))
            link_ours.append((truth, tag_date({"link": link}, [], "x.json", run_day).published_jalali, 0))
            text = "\n".join([record.get("title") or "", record.get("abstract") or "", *record.get("paragraphs", [])])
            datelines = [ln for ln in text.splitlines() if is_dateline(ln)]
            rest = "\n".join(ln for ln in text.splitlines() if ln.strip() and ln not in datelines)
            datelines = header_datelines(text, datelines, rest)  # as the pipeline: header lines only
            text_ours.append((truth, tag_date({}, datelines, "x.json", run_day).published_jalali, 0))
            started = time.perf_counter()
            p = dateparser.parse(link, languages=["fa"])
            link_parse.append((truth, jalali(p.date()) if p else None, 0))
            s = search_dates(link, languages=["fa"])
            link_search.append((truth, jalali(s[0][1].date()) if s else None, 0))
            s = search_dates(text, languages=["fa"])
            text_search.append((truth, jalali(s[0][1].date()) if s else None, 0))
            t_dp += time.perf_counter() - started
    n = len(pipeline)
    print(f"3. Fars corpus ({shared / 'corpus' / 'fars'}): {n + len(undocumented)} records, {n} with an id in a documented"
          f" form (truth), run day {run_day}")
    print(line("(a) khabar pipeline: parse, strip, header, tag", score(pipeline), n))
    print(line("(b) khabar tag_date, link only", score(link_ours), n))
    print(line("(b) dateparser.parse(link, ['fa'])", score(link_parse), n))
    print(line("(b) dateparser search_dates(link, ['fa'])[0]", score(link_search), n))
    print(line("(c) khabar tag_date, record text only", score(text_ours), n))
    print(line("(c) dateparser search_dates(text, ['fa'])[0]", score(text_search), n))
    print(f"  khabar pipeline wrong or undated: {pipeline_wrong or 'none'}")
    print(f"  ids outside the documented forms ({len(undocumented)}), as khabar dates them (Jalali, confidence):")
    for link, got, confidence in undocumented:
        print(f"    {link} → {got} ({confidence})")
    print(f"  time: khabar {t_ours:.2f} s for parse+strip+tag of all records; dateparser {t_dp:.2f} s for its three calls")


def varzesh3_corpus(shared: Path, run_day: date) -> None:
    """Records without a publication date: any date the pipeline gives them is unfounded."""
    from khabar.dates import header_datelines, tag_date
    from khabar.ingest import parse_file
    from khabar.strip import Stripper

    stripper = Stripper()
    total, dated, any_dateline = 0, [], 0
    for path in sorted((shared / "corpus" / "varzesh3").glob("varzesh3-*.json")):
        docs, _ = parse_file(f"{run_day.isoformat()}/varzesh3/{path.name}", path.read_text(encoding="utf-8"), "json", path.name)
        for doc in docs:
            stripper.strip_document(doc)
            total += 1
            any_dateline += bool(doc.meta.get("datelines"))
            lines = header_datelines(doc.raw_text, doc.meta.get("datelines") or [], doc.stripped_text or "")
            result = tag_date(doc.meta, lines, doc.source_path, run_day)
            if result.published_at is not None:
                dated.append((doc.meta.get("link"), result.published_jalali, result.evidence))
    print(f"4. Varzesh3 corpus: {total} records, none with a publication date in the record")
    print(f"  records with a date-only line anywhere in the text: {any_dateline}")
    print(f"  records the pipeline path dates anyway (unfounded): {len(dated)} {dated[:5] if dated else ''}")


def main() -> None:
    warnings.filterwarnings("ignore")  # dateparser's pytz/regex deprecation noise
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_shared = os.environ.get("KHABAR_SHARED_DIR") or PROJECT.parent / "shared"
    parser.add_argument("--shared", type=Path, default=Path(default_shared))
    parser.add_argument("--run-day", type=date.fromisoformat, default=date(2025, 1, 1))
    args = parser.parse_args()
    import dateparser

    print(f"dateparser {dateparser.__version__}")
    labelled_strings()
    labelled_documents()
    fars_corpus(args.shared, args.run_day)
    varzesh3_corpus(args.shared, args.run_day)


if __name__ == "__main__":
    main()
