"""The dedup stage against the warehouse, in two parts whose memory does not grow with the run or the
warehouse.

``prepare`` fingerprints documents of a run: the folded body's hash (``staging.documents.body_hash``), the
sorted shingle array (``staging.dedup_shingles``) and the LSH band keys (``staging.lsh_bands``). It works
on any subset of the run and deletes that subset's rows first, so disjoint subsets can be prepared in
separate transactions or processes, concurrently, and any of them again.

``decide`` makes the decisions for the whole run: exact copies by a join of hashes (with the warehouse,
then inside the run), near-copy candidates by joins of band keys (run × warehouse, run × run),
verification of each candidate pair, stories by ``khabar.dedup.assign_stories``, merges and one decision
row per pair. Pairs are streamed from server-side cursors ordered by the other article, whose shingles
come once per group; comparisons use sorted int32 arrays; decisions are written in chunks. What stays in
memory is the same-story edges (what the stories are made from), not the run's or the candidates'
shingles.

Results are those of the former single-pass stage: the same statuses, stories, merges and decisions.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence

import numpy as np

from khabar.dedup import (
    DedupSettings,
    ExistingStory,
    assign_stories,
    band_keys,
    body_hash,
    compare_sorted,
    fold_for_dedup,
    minhash,
    settings_from_env,
    shingles,
)
from khabar.warehouse import CopyData, copy_buffer, copy_rows, delete_by_ids, stream_behind, transaction

CHUNK = 2000  # pairs per cursor fetch and per COPY
PREPARE_CHUNK = 500  # documents prepare fingerprints at a time, read and written behind its work
# The run's band keys, one row per band (staging keeps them as one array per document; band b is at b + 1).
RUN_BANDS = (
    "select l.doc_id, k.ord::int - 1 as band, k.band_key from staging.lsh_bands l,"
    " unnest(l.band_keys) with ordinality as k(band_key, ord) where l.run_id = %(run)s"
)
# The same with one bigint a row mixing band and key (the key's top bits xor the band number): rows of one
# (band, key) share it; rows of different ones rarely do.
RUN_BANDS_MIXED = f"select r.*, r.band_key # ((r.band + 1)::bigint << 56) as mixed from ({RUN_BANDS}) r"
# The run's candidate pairs in SQL: documents sharing a (band, key), both ways. Nearly every (band, key) of the run
# is its document's alone: the shared keys are found first by sorting one bigint per row, band and key mixed (a
# shared key has one such value; values that collide only add keys the exact grouping then drops), and only their
# rows are grouped exactly. ``run_band_pairs`` finds the same pairs in this process; this is its fallback.
RUN_PAIRS = (
    "select distinct a.doc_id, b.doc_id as other_id"
    f" from (select array_agg(doc_id) as ids from ({RUN_BANDS_MIXED}) k"
    f"       where k.mixed in (select mixed from ({RUN_BANDS_MIXED}) s group by mixed having count(*) > 1)"
    "       group by band, band_key having count(*) > 1) g,"
    " unnest(g.ids) a(doc_id), unnest(g.ids) b(doc_id) where b.doc_id <> a.doc_id"
)
LIVE = "status in ('active', 'duplicate')"  # the documents dedup decides (quarantined ones are out)
# Processing order (earliest published first; undated last): the first of a body hash is its original,
# the first of a new story names it. "C" collation: the order of Python's str comparison.
ORDER = 'published_at is null, published_at, source_path collate "C", record_index, doc_id collate "C"'


def fingerprint(body: str | None) -> tuple[str, np.ndarray, list[int]]:
    """Hash of the folded body, its sorted unique shingles (int32) and its LSH band keys."""
    folded = fold_for_dedup(body or "")
    arr = np.fromiter(shingles("", folded=folded), dtype=np.int32)
    arr.sort()
    return body_hash("", folded), arr, band_keys(minhash(arr))


def _array_text(arr: np.ndarray) -> str:
    return "{" + ",".join(map(str, arr.tolist())) + "}"


_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, no header extension
_COPY_TRAILER = b"\xff\xff"  # a row of -1 fields: the end of the data
_ARRAY_ELEMENT = {np.dtype(np.int32): (23, ">i4"), np.dtype(np.int64): (20, ">i8")}  # element type oid, wire form


def _binary_array(arr: np.ndarray) -> bytes:
    """A one-dimensional int4[] or int8[] without nulls in PostgreSQL's binary form (what ``array_send``
    gives and ``_from_array_send`` reads): dimensions, null flag, element type, then length and lower bound
    of the dimension, then each element's byte length and value, big-endian."""
    oid, wire = _ARRAY_ELEMENT[arr.dtype]
    if not len(arr):
        return np.array([0, 0, oid], dtype=">i4").tobytes()
    size = np.dtype(wire).itemsize
    items = np.empty(len(arr), dtype=[("len", ">i4"), ("value", wire)])
    items["len"], items["value"] = size, arr
    return np.array([1, 0, oid, len(arr), 1], dtype=">i4").tobytes() + items.tobytes()


def encode_fingerprints(run_id: str, rows: list[tuple[str, np.ndarray]]) -> io.BytesIO:
    """``(run_id, doc_id, array)`` rows in COPY's binary format: the arrays go as numpy writes them, where the
    text form cost a Python str per element here and a parse per element in the server."""
    import struct

    run = run_id.encode()
    buf = io.BytesIO()
    buf.write(_COPY_HEADER)
    for doc_id, arr in rows:
        doc, payload = doc_id.encode(), _binary_array(arr)
        buf.write(struct.pack(f">hi{len(run)}si{len(doc)}si", 3, len(run), run, len(doc), doc, len(payload)))
        buf.write(payload)
    buf.write(_COPY_TRAILER)
    return buf


def copy_fingerprints(cur, table: str, column: str, buf: io.BytesIO) -> None:
    """``encode_fingerprints``' rows into ``(run_id, doc_id, column)`` of ``table``."""
    copy_buffer(cur, f"copy {table} (run_id, doc_id, {column}) from stdin with (format binary)", buf)


def _subset(doc_ids: Sequence[str] | None, where: str | None) -> tuple[str, tuple]:
    """A condition on staging.documents (unqualified columns) selecting the subset, and its parameters."""
    if doc_ids is not None and where is not None:
        raise ValueError("give doc_ids or where, not both")
    if doc_ids is not None:
        return "doc_id = any(%s)", (list(doc_ids),)
    if where is not None:
        return "(" + where.replace("%", "%%") + ")", ()  # no parameters: a literal %, as in record_index % 4
    return "true", ()


def prepare(dsn: str, run_id: str, doc_ids: Sequence[str] | None = None, where: str | None = None) -> dict:
    """Fingerprint the run's documents (all, those in ``doc_ids``, or those matching the SQL condition
    ``where`` over staging.documents columns, code-supplied only) in one transaction."""
    with transaction(dsn) as cur:
        return _prepare(cur, run_id, doc_ids, where)


def _prepare(cur, run_id: str, doc_ids: Sequence[str] | None = None, where: str | None = None) -> dict:
    cond, params = _subset(doc_ids, where)
    subset: list[str] | None = None  # the subset's ids (all the run: None)
    if doc_ids is None and where is None:  # the whole run: rows of documents no longer staged go too
        for table in ("staging.lsh_bands", "staging.dedup_shingles"):
            cur.execute(f"delete from {table} where run_id = %s", (run_id,))
    else:
        # the subset's ids, looked up in the primary key (a join hashed the run's rows, every batch: see
        # khabar.warehouse.delete_by_ids)
        cur.execute(f"select array(select doc_id from staging.documents where run_id = %s and {cond})", (run_id, *params))
        (subset,) = cur.fetchone()
        for table in ("staging.lsh_bands", "staging.dedup_shingles"):
            delete_by_ids(cur, table, run_id, subset)
    cur.execute("create temporary table if not exists dedup_prepared_hashes (doc_id text, body_hash text) on commit drop")
    cur.execute("truncate dedup_prepared_hashes")

    def work(rows: list[tuple[str, str]]) -> tuple[CopyData, io.BytesIO, io.BytesIO]:
        hashes, bands, arrays = [], [], []
        for doc_id, body in rows:
            h, arr, keys = fingerprint(body)
            hashes.append((doc_id, h))
            arrays.append((doc_id, arr))
            bands.append((doc_id, np.array(keys, dtype=np.int64)))
        return CopyData(hashes), encode_fingerprints(run_id, arrays), encode_fingerprints(run_id, bands)

    def write(c, encoded: tuple[CopyData, io.BytesIO, io.BytesIO]) -> None:
        hashes, arrays, bands = encoded
        hashes.copy(c, "dedup_prepared_hashes", ("doc_id", "body_hash"))
        copy_fingerprints(c, "staging.dedup_shingles", "shingles", arrays)
        copy_fingerprints(c, "staging.lsh_bands", "band_keys", bands)

    n, _ = stream_behind(
        cur, "dedup_prepare", f"select doc_id, body from staging.documents where run_id = %s and {LIVE} and {cond}",
        (run_id, *params), PREPARE_CHUNK, work, write,
    )
    # without statistics the planner took the hashes for ~900 rows and hashed all the run's documents to
    # match them, in every batch (51 ms a batch at 10k documents, 13 ms by primary key)
    cur.execute("analyze dedup_prepared_hashes")
    # a subset's documents are looked up by their ids in the primary key (the ids as a literal array):
    # matched on the run alone, each subset's update read all the run's documents to hash-join its own
    # (10 ms of a batch's 14 at 10k documents)
    cur.execute(
        "update staging.documents d set body_hash = h.body_hash from dedup_prepared_hashes h"
        " where d.run_id = %s and d.doc_id = h.doc_id and d.body_hash is distinct from h.body_hash"
        + ("" if subset is None else " and d.doc_id = any(%s)"),
        (run_id,) if subset is None else (run_id, subset),
    )
    return {"documents": n}


def decide(dsn: str, run_id: str, settings: DedupSettings | None = None) -> dict:
    """Every dedup decision of the run, in one transaction, from what ``prepare`` left in staging (a
    live document lacking its fingerprint, such as one a former decision found to be an exact copy, is
    prepared here first)."""
    settings = settings or settings_from_env()
    with transaction(dsn) as cur:
        cur.execute("set local work_mem = '64MB'")
        cur.execute(
            f"select d.doc_id from staging.documents d where d.run_id = %s and d.{LIVE} and (d.body_hash is null"
            " or not exists (select 1 from staging.dedup_shingles s where s.run_id = d.run_id and s.doc_id = d.doc_id))",
            (run_id,),
        )
        missing = [r[0] for r in cur.fetchall()]
        if missing:
            _prepare(cur, run_id, missing)
        # Exact: the run's documents in order, each with its original (an earlier day's article holding
        # the same hash, the smallest id; else the run's first document with it), null for an original.
        cur.execute(
            "create temporary table dedup_docs on commit drop as"
            f" with d as (select doc_id, body_hash, row_number() over (order by {ORDER}) as rank"
            f"            from staging.documents where run_id = %(run)s and {LIVE}),"
            " earlier as (select a.body_hash, min(a.article_id) as article_id from reporting.articles a"
            "             where a.body_hash in (select body_hash from d) and a.run_id <> %(run)s group by a.body_hash)"
            " select d.doc_id, d.rank, coalesce(e.article_id,"
            "        nullif(first_value(d.doc_id) over (partition by d.body_hash order by d.rank), d.doc_id)) as original"
            " from d left join earlier e on e.body_hash = d.body_hash",
            {"run": run_id},
        )
        cur.execute("create unique index on dedup_docs (doc_id)")
        cur.execute("analyze dedup_docs")
        # Only originals keep a fingerprint (what load copies into the warehouse): not exact copies, nor
        # documents quarantined or no longer staged since a subset was prepared. Found on the shingle rows
        # (one per document; prepare writes both tables together), removed from both by key.
        cur.execute(
            "create temporary table dedup_stale on commit drop as select s.doc_id from staging.dedup_shingles s"
            " where s.run_id = %s and not exists (select 1 from dedup_docs d where d.doc_id = s.doc_id and d.original is null)",
            (run_id,),
        )
        for table in ("staging.lsh_bands", "staging.dedup_shingles"):
            cur.execute(f"delete from {table} where run_id = %s and doc_id in (select doc_id from dedup_stale)", (run_id,))
        # the run's row count for the plans below; not the key arrays' statistics (their most common elements:
        # most of the analyze), which no plan uses: unnest's rows are estimated without them
        cur.execute("analyze staging.lsh_bands (run_id, doc_id)")
        cur.execute("delete from staging.dedup_decisions where run_id = %s", (run_id,))
        cur.execute(
            "insert into staging.dedup_decisions (run_id, doc_id, other_article_id, jaccard, containment, rule, same_story)"
            " select %s, doc_id, original, 1.0, 1.0, 'exact_hash', true from dedup_docs where original is not null",
            (run_id,),
        )
        # Candidates inside the run (the later document first) and against other days' articles.
        # The run's pairs of documents sharing a band's key: found in this process from the run's key arrays
        # (``run_band_pairs``), then ranked here. (Grouped in SQL, unnesting the 640k keys of 10k documents twice,
        # sorting and hashing them was 0.43 s of the server's CPU; here 0.1 s in all.)
        cur.execute("create temporary table dedup_run_candidates (doc_id text, other_id text) on commit drop")
        copy_rows(cur, "dedup_run_candidates", ("doc_id", "other_id"), run_band_pairs(cur, run_id))
        cur.execute("analyze dedup_run_candidates")
        cur.execute(
            "create temporary table dedup_run_pairs on commit drop as"
            " select p.doc_id, ra.rank as doc_rank, p.other_id, rb.rank as other_rank,"
            "        row_number() over (partition by p.other_id order by ra.rank) = 1 as first_of_other"
            " from dedup_run_candidates p"
            " join dedup_docs ra on ra.doc_id = p.doc_id join dedup_docs rb on rb.doc_id = p.other_id"
            " where ra.rank > rb.rank",
        )
        cur.execute(
            "create temporary table dedup_warehouse_pairs on commit drop as"
            " select p.doc_id, d.rank as doc_rank, p.article_id,"
            "        row_number() over (partition by p.article_id order by d.rank) = 1 as first_of_other"
            f" from (select distinct s.doc_id, r.article_id from ({RUN_BANDS}) s"
            "       join reporting.lsh_bands r on r.band = s.band and r.band_key = s.band_key) p"
            " join dedup_docs d on d.doc_id = p.doc_id"
            " join reporting.articles a on a.article_id = p.article_id and a.run_id <> %(run)s",
            {"run": run_id},
        )
        decisions = _DecisionWriter(cur, run_id)
        doc_edges: list[tuple[str, str]] = []
        story_edges: list[tuple[str, ExistingStory]] = []
        rank: dict[str, int] = {}
        n_run = 0
        for doc_id, doc_rank, other_id, other_rank, a, b, _ in _pairs(
            cur,
            "select p.doc_id, p.doc_rank, p.other_id, p.other_rank, array_send(s.shingles),"
            " array_send(case when p.first_of_other then o.shingles end), null"
            " from dedup_run_pairs p join staging.dedup_shingles s on s.run_id = %(run)s and s.doc_id = p.doc_id"
            " join staging.dedup_shingles o on o.run_id = %(run)s and o.doc_id = p.other_id"
            " order by p.other_rank, p.doc_rank",
            run_id,
        ):
            n_run += 1
            sim = compare_sorted(a, b, settings)
            decisions.add(doc_id, other_id, sim)
            if sim.same_story:
                doc_edges.append((doc_id, other_id))
                rank[doc_id], rank[other_id] = doc_rank, other_rank
        n_warehouse = 0
        for doc_id, doc_rank, article_id, _, a, b, story in _pairs(
            cur,
            "select p.doc_id, p.doc_rank, p.article_id, null, array_send(s.shingles),"
            " array_send(case when p.first_of_other then o.shingles end),"
            " case when p.first_of_other and o.shingles is null then a.body end, a.story_id, st.first_published_at"
            " from dedup_warehouse_pairs p join staging.dedup_shingles s on s.run_id = %(run)s and s.doc_id = p.doc_id"
            " join reporting.articles a on a.article_id = p.article_id"
            " left join reporting.dedup_shingles o on o.article_id = p.article_id"
            " left join reporting.stories st on st.story_id = a.story_id"
            " order by p.article_id, p.doc_rank",
            run_id,
        ):
            n_warehouse += 1
            sim = compare_sorted(a, b, settings)
            decisions.add(doc_id, article_id, sim)
            if sim.same_story:
                story_edges.append((doc_id, story))
                rank[doc_id] = doc_rank
        decisions.flush()
        # Stories: documents with no same-story edge are their own story; the others by assign_stories.
        stories, merges = assign_stories(sorted(rank, key=rank.__getitem__), doc_edges, story_edges)
        cur.execute("create temporary table dedup_stories (doc_id text primary key, story_id text not null) on commit drop")
        copy_rows(cur, "dedup_stories", ("doc_id", "story_id"), stories.items())
        cur.execute(
            "update staging.documents d"
            " set status = v.status, duplicate_of = v.original, story_id = v.story_id"
            " from (select x.doc_id, x.original, case when x.original is null then 'active' else 'duplicate' end as status,"
            "              case when x.original is null then coalesce(s.story_id, x.doc_id) end as story_id"
            "       from dedup_docs x left join dedup_stories s on s.doc_id = x.doc_id) v"
            " where d.run_id = %s and d.doc_id = v.doc_id"
            "   and (d.status, d.duplicate_of, d.story_id) is distinct from (v.status, v.original, v.story_id)",
            (run_id,),
        )
        cur.execute("delete from staging.story_merges where run_id = %s", (run_id,))
        copy_rows(
            cur, "staging.story_merges", ("run_id", "merged_story_id", "into_story_id", "bridge_article_id"),
            ((run_id, m.merged_story_id, m.into_story_id, m.bridge_doc_id) for m in merges),
        )
        cur.execute("select count(*), count(original) from dedup_docs")
        documents, duplicates = cur.fetchone()
    originals = documents - duplicates
    return {
        "documents": documents,
        "duplicates": duplicates,
        "stories": originals - len(stories) + len(set(stories.values())),
        "candidate_pairs": n_run + n_warehouse,
        "merges": len(merges),
    }


def _from_array_send(buf) -> np.ndarray:
    """An int4[] in PostgreSQL's binary form (``array_send``) as an int32 array: a header of 3 int32
    (dimensions, has-nulls flag, element type) and, for the one dimension, its length and lower bound,
    then each element as its byte length (4) and its value, big-endian. Shingle arrays have no nulls.
    Parsed by numpy where the text form ({1,2,...}) cost a Python int per element, on every pair.

    >>> _from_array_send(bytes.fromhex("00000001" "00000000" "00000017" "00000002" "00000001" "00000004" "00000001" "00000004" "fffffffe"))
    array([ 1, -2], dtype=int32)
    """
    words = np.frombuffer(buf, dtype=">i4")
    if words[0] == 0:  # no dimension: the empty array
        return np.empty(0, dtype=np.int32)
    if words[0] != 1 or words[1] != 0:
        raise ValueError("a shingle array has one dimension and no nulls")
    return words[6::2].astype(np.int32)


def _pairs(cur, query: str, run_id: str) -> Iterator[tuple]:
    """Candidate pairs from a server-side cursor, ordered by the other article: its shingles arrive with
    the first pair of its group only and are reused for the rest (from a stored array, else from the
    body of an article loaded before stored shingles existed). Shingle arrays come in binary form
    (``array_send``; the doc's with every pair). Yields (doc, doc rank, other, other rank, doc shingles,
    other shingles, the other's story or None)."""
    other_key, other = None, None
    with cur.connection.cursor(name="dedup_pairs") as stream:
        stream.itersize = CHUNK
        stream.execute(query, {"run": run_id})
        for row in stream:
            doc_id, doc_rank, other_id, other_rank, doc_sh, other_sh, body = row[:7]
            if other_id != other_key:
                other_key = other_id
                other = (
                    _from_array_send(other_sh) if other_sh is not None
                    else np.array(sorted(shingles(body or "")), dtype=np.int32)
                )
            story = ExistingStory(row[7], row[8]) if len(row) > 7 else None
            yield doc_id, doc_rank, other_id, other_rank, _from_array_send(doc_sh), other, story


class _DecisionWriter:
    """Decision rows COPied into staging.dedup_decisions in chunks."""

    def __init__(self, cur, run_id: str) -> None:
        self.cur, self.run_id, self.rows = cur, run_id, []

    def add(self, doc_id: str, other_id: str, sim) -> None:
        self.rows.append((self.run_id, doc_id, other_id, repr(sim.jaccard), repr(sim.containment), sim.rule, str(sim.same_story)))
        if len(self.rows) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            copy_rows(
                self.cur, "staging.dedup_decisions",
                ("run_id", "doc_id", "other_article_id", "jaccard", "containment", "rule", "same_story"), self.rows,
            )
            self.rows = []


# The run's band rows for reporting.lsh_bands, as load_run.sql's statement between its "lsh_bands" markers selects
# them: every staged document's keys but those of articles whose rows the load kept (temporary table lsh_kept).
_RUN_BAND_ARRAYS = (
    "select l.doc_id, array_send(l.band_keys) from staging.lsh_bands l where l.run_id = %s"
    " and not exists (select 1 from lsh_kept kept where kept.article_id = l.doc_id)"
)
COPY_ROWS = 100_000  # band rows per piece of the COPY stream


def _int8_array(buf) -> np.ndarray | None:
    """An int8[] in PostgreSQL's binary form (``array_send``) as int64, in order; None for a form this does not
    read (more than one dimension, null elements): the caller then lets the server do it."""
    head = np.frombuffer(buf, dtype=">i4", count=min(len(buf) // 4, 5))
    if head[0] == 0:
        return np.empty(0, dtype=np.int64)
    if head[0] != 1 or head[1] != 0 or len(buf) != 20 + 12 * int(head[3]):
        return None
    items = np.frombuffer(buf, dtype=[("len", ">i4"), ("value", ">i8")], offset=20)
    return items["value"].astype(np.int64)


def _int8_arrays(bufs: list) -> np.ndarray | None:
    """int8[] arrays in binary form (``array_send``) of one dimension and one length, no nulls, as the rows of one
    int64 matrix, parsed at once; None when they are not all of that form (``_int8_array`` reads them one by one)."""
    if not bufs or len({len(b) for b in bufs}) != 1 or len(bufs[0]) < 32:
        return None
    n = (len(bufs[0]) - 20) // 12
    if len(bufs[0]) != 20 + 12 * n:
        return None
    rows = np.frombuffer(b"".join(bufs), dtype=[("head", ">i4", 5), ("items", [("len", ">i4"), ("value", ">i8")], n)])
    head = rows["head"]
    if not ((head[:, 0] == 1) & (head[:, 1] == 0) & (head[:, 3] == n) & (rows["items"]["len"] == 8).all(axis=1)).all():
        return None
    return rows["items"]["value"].astype(np.int64)


def _key_array_chunks(cur, name: str, sql: str, params) -> Iterator[tuple[list[str], np.ndarray] | None]:
    """``sql``'s rows (doc_id, ``array_send`` of its key array), read from a server-side cursor ``name``, as
    chunks of documents with as many keys each: (their ids, an int64 matrix with a row each), a fetch's arrays
    parsed at once where they are all of one length; None, and nothing after it, at an array of a form not read
    here (more than one dimension, nulls): the caller then lets the server do it."""
    with cur.connection.cursor(name=name) as stream:
        stream.itersize = CHUNK
        stream.execute(sql, params)
        while rows := stream.fetchmany(CHUNK):
            keys = _int8_arrays([buf for _, buf in rows])
            if keys is not None:
                yield [doc_id for doc_id, _ in rows], keys
                continue
            for doc_id, buf in rows:
                one = _int8_array(buf)
                if one is None:
                    yield None
                    return
                yield [doc_id], one.reshape(1, -1)


class _Stream:
    """A file-like object whose ``read`` serves the bytes of a generator's pieces, for ``copy_expert``."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self.pieces, self.buf = pieces, b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self.buf) < size:
            piece = next(self.pieces, None)
            if piece is None:
                break
            self.buf += piece
        if size < 0:
            out, self.buf = self.buf, b""
        else:
            out, self.buf = self.buf[:size], self.buf[size:]
        return out


def copy_run_bands(cur, run_id: str) -> bool:
    """Inside the load's transaction: the run's band rows into reporting.lsh_bands, one row per band (article,
    band b = the key's position - 1, key), in band_key order, with one binary COPY: the rows load_run.sql's
    statement between its "lsh_bands" markers inserts, without the server unnesting the arrays, sorting 640k rows
    (at 10k documents) and inserting them one at a time (COPY inserts a page's rows at once): 1.2 s of the
    server's time at 10k documents against 0.65 s, for ~0.1 s here. The keys are read as arrays from a
    server-side cursor; what this process holds is the keys and their order (16 bytes a row: 100 MB at 100k
    documents), the COPY is streamed. Returns False, having written nothing, when an array is not of the form
    prepare writes (one dimension, no nulls) or the ids differ in length: the caller runs the statement."""
    ids: list[str] = []
    arrays: list[np.ndarray] = []
    for chunk in _key_array_chunks(cur, "lsh_band_arrays", _RUN_BAND_ARRAYS, (run_id,)):
        if chunk is None:
            return False
        ids.extend(chunk[0])
        arrays.extend(chunk[1])  # a row each
    if not ids:
        return True  # no rows to write
    encoded = [i.encode() for i in ids]
    if len({len(e) for e in encoded}) != 1:
        return False  # ids of different lengths (not make_id's): the statement does it
    width = len(encoded[0])
    lengths = np.fromiter((len(a) for a in arrays), dtype=np.int64, count=len(arrays))
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    keys = np.concatenate(arrays) if arrays else np.empty(0, dtype=np.int64)
    del arrays
    order = np.argsort(keys, kind="stable")  # ties (a key shared) in the statement's order: by document, then band
    id_array = np.array(encoded, dtype=f"S{width}")
    row = np.dtype([("fields", ">i2"), ("id_len", ">i4"), ("id", f"S{width}"), ("band_len", ">i4"), ("band", ">i4"),
                    ("key_len", ">i4"), ("key", ">i8")])

    def pieces() -> Iterator[bytes]:
        yield _COPY_HEADER
        for lo in range(0, len(order), COPY_ROWS):
            at = order[lo:lo + COPY_ROWS]
            doc = np.searchsorted(starts, at, side="right") - 1
            rows = np.empty(len(at), dtype=row)
            rows["fields"], rows["id_len"], rows["band_len"], rows["key_len"] = 3, width, 4, 8
            rows["id"], rows["band"], rows["key"] = id_array[doc], at - starts[doc], keys[at]
            yield rows.tobytes()
        yield _COPY_TRAILER

    cur.copy_expert("copy reporting.lsh_bands (article_id, band, band_key) from stdin with (format binary)",
                    _Stream(pieces()), size=1 << 20)
    return True


MEMBERSHIP_SLICE = 1 << 20  # keys tested at a time against the shared mixed values


# A day's keys, above which run_band_pairs leaves the grouping to the server (RUN_PAIRS): 16M keys are 250k
# documents of 64 bands, 128 MB of keys and about three times that at the sort (decide's peak RSS at 100k
# documents: 162 MiB, against 60 MiB when the server grouped them).
MAX_KEYS_IN_PROCESS = 16_000_000


def run_band_pairs(cur, run_id: str) -> list[tuple[str, str]]:
    """The run's candidate pairs, both ways: every two documents with the same key in the same band (``RUN_PAIRS``'s
    rows), found here from the run's key arrays (read in binary form from a server-side cursor). As in SQL, one
    bigint a key mixes band and key; the values that occur more than once are found by sorting them, and only the
    keys holding such a value are grouped exactly by (band, key). What this process holds is one 8-byte value a key
    (640k at 10k documents) and a sorted copy of them while the shared values are found. Falls back to
    ``RUN_PAIRS`` for an array of a form prepare does not write (nulls, more than one dimension), and for a day of
    more than ``MAX_KEYS_IN_PROCESS`` keys."""
    cur.execute(
        "select count(*), coalesce(sum(cardinality(band_keys)), 0) from staging.lsh_bands where run_id = %s", (run_id,)
    )
    n_docs, n_keys = cur.fetchone()
    if n_keys > MAX_KEYS_IN_PROCESS:  # what this process would hold grows with the day: the server groups them
        return _sql_pairs(cur, run_id)
    ids: list[str] = []
    starts = np.empty(n_docs + 1, dtype=np.int64)
    mixed = np.empty(n_keys, dtype=np.uint64)
    at = 0

    def add(doc_ids: list[str], keys: np.ndarray) -> None:  # documents with as many keys each (a row of keys each)
        nonlocal at
        width = keys.shape[1]
        starts[len(ids):len(ids) + len(doc_ids)] = at + width * np.arange(len(doc_ids))
        ids.extend(doc_ids)
        bands = np.arange(1, width + 1, dtype=np.uint64) << np.uint64(56)
        mixed[at:at + keys.size] = (keys.view(np.uint64) ^ bands).ravel()
        at += keys.size

    arrays = "select doc_id, array_send(band_keys) from staging.lsh_bands where run_id = %s"
    for chunk in _key_array_chunks(cur, "dedup_band_arrays", arrays, (run_id,)):
        if chunk is None or len(ids) + len(chunk[0]) > n_docs or at + chunk[1].size > n_keys:
            return _sql_pairs(cur, run_id)
        add(*chunk)
    if len(ids) != n_docs or at != n_keys:
        return _sql_pairs(cur, run_id)
    starts[n_docs] = at
    ordered = np.sort(mixed)
    shared = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    del ordered
    if not len(shared):
        return []
    found = []
    for lo in range(0, n_keys, MEMBERSHIP_SLICE):
        part = mixed[lo:lo + MEMBERSHIP_SLICE]
        j = np.minimum(np.searchsorted(shared, part), len(shared) - 1)
        found.append(np.flatnonzero(shared[j] == part) + lo)
    pos = np.concatenate(found)
    doc = np.searchsorted(starts[:n_docs], pos, side="right") - 1
    band = pos - starts[doc]
    key = mixed[pos] ^ ((band + 1).astype(np.uint64) << np.uint64(56))  # the key itself (as uint64)
    order = np.lexsort((key, band))
    doc, band, key = doc[order], band[order], key[order]
    # groups: runs of one (band, key); of two documents (most) paired at once, larger ones one by one
    new = np.concatenate(([True], (band[1:] != band[:-1]) | (key[1:] != key[:-1]), [True]))
    first = np.flatnonzero(new[:-1])
    size = np.diff(np.flatnonzero(new))
    two = first[size == 2]
    a, b = [doc[two]], [doc[two + 1]]
    for lo, n in zip(first[size > 2].tolist(), size[size > 2].tolist(), strict=True):
        members = doc[lo:lo + n]
        a.append(np.repeat(members, n))
        b.append(np.tile(members, n))
    a, b = np.concatenate(a), np.concatenate(b)
    pairs = np.unique(np.concatenate((a * n_docs + b, b * n_docs + a))[np.concatenate((a != b, a != b))])
    return [(ids[p // n_docs], ids[p % n_docs]) for p in pairs.tolist()]


def _sql_pairs(cur, run_id: str) -> list[tuple[str, str]]:
    # the planner, expecting few keys, would hash the mixed values: sorting one bigint is 3x cheaper
    cur.execute("set local enable_hashagg = off")
    cur.execute(RUN_PAIRS, {"run": run_id})
    rows = cur.fetchall()
    cur.execute("reset enable_hashagg")
    return rows
