"""The PostgreSQL warehouse: finding it, starting the embedded one, applying migrations."""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import psycopg2.extensions

from khabar.paths import EMBEDDED_PG_DIR, MIGRATIONS_DIR

# Any fixed 64-bit key: serialises migrations between concurrent runs.
_MIGRATION_LOCK = 7_310_442_001
# First half of the two-int advisory lock keyed by a run's day (the second half is hashtext(day)).
_DAY_LOCK_CLASS = 7_310_442


# The connection holding a day's lock in this thread while a ``day_lock`` block runs, and its DSN: the block's
# transactions run on it, so a task opens one connection, not one per step (a connection costs ~10 ms here).
# None outside a block, and while one of its transactions is open (a transaction opened inside that one gets
# a connection of its own). Threads start without one.
_LOCK_CONNECTION: contextvars.ContextVar[tuple[str, psycopg2.extensions.connection] | None] = contextvars.ContextVar(
    "khabar_lock_connection", default=None
)


class WarehouseError(RuntimeError):
    """The warehouse cannot be reached; the message never carries the password."""


class RunLocked(RuntimeError):
    """Another run of the same day holds the day's lock."""


def embedded_dsn(data_dir: Path | None = None) -> str:
    """Start (or reuse) the embedded PostgreSQL under the project and return its DSN.

    The server is left running after this process exits so the next run reuses it.
    """
    import pgserver  # heavy: only when no warehouse is configured

    data_dir = Path(data_dir or os.environ.get("NEWS_EMBEDDED_PG_DIR") or EMBEDDED_PG_DIR)
    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode=None)
    return server.get_uri()


def redact_dsn(dsn: str) -> str:
    """The DSN with any password replaced, for messages and logs: URIs and ``key=value`` strings.

    >>> redact_dsn("postgresql://khabar:s3cret@db:5432/news")
    'postgresql://khabar:***@db:5432/news'
    """
    from urllib.parse import urlsplit, urlunsplit

    dsn = re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", dsn)
    try:
        parts = urlsplit(dsn)
        password = parts.password
    except ValueError:
        return dsn
    if password:
        netloc = parts.netloc.replace(f":{password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return dsn


def redact_text(text: str, dsn: str) -> str:
    """``text`` with the DSN's password (raw and URL-decoded) masked wherever it appears."""
    from urllib.parse import unquote, urlsplit

    secrets: set[str] = set(re.findall(r"password\s*=\s*'?([^'\s]+)", dsn))
    try:
        if urlsplit(dsn).password:
            secrets |= {urlsplit(dsn).password, unquote(urlsplit(dsn).password)}
    except ValueError:
        pass
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def quote_literal(value: str) -> str:
    """A SQL string literal, for the few places a value is baked into SQL text (GX queries)."""
    return "'" + value.replace("'", "''") + "'"


def connect(dsn: str) -> psycopg2.extensions.connection:
    """A connection; a failure raises ``WarehouseError`` naming the redacted DSN, never the password."""
    try:
        conn = psycopg2.connect(dsn)
    except psycopg2.Error as exc:
        # "from None": the original exception's args and the caller's frames would show the DSN.
        raise WarehouseError(f"cannot connect to the warehouse {redact_dsn(dsn)}: {redact_text(str(exc), dsn).strip()}") from None
    conn.set_client_encoding("UTF8")
    _compress_with_lz4(conn)
    return conn


def _compress_with_lz4(conn: psycopg2.extensions.connection) -> None:
    """Compress the long values this session writes (bodies, raw texts, kept stage outputs, the temporary
    tables of ``update_from_rows``) with lz4 rather than pglz: at 10k documents the database spent 3.4 s of
    CPU less over a run. A server built without lz4 keeps pglz; values of either kind read the same."""
    conn.autocommit = True  # a session setting, not undone by a rollback; a refusal leaves no failed transaction
    try:
        with conn.cursor() as cur:
            cur.execute("set default_toast_compression = lz4")
    except psycopg2.Error:
        pass
    finally:
        conn.autocommit = False


@contextlib.contextmanager
def day_lock(dsn: str, run_id: str, shared: bool = False) -> Iterator[None]:
    """Hold the advisory lock of a run's day for the block, or raise ``RunLocked`` at once.

    A session lock on its own connection, so it spans the stage's transactions; PostgreSQL
    releases it when that connection ends, even if the worker is killed. ``shared``: the batch
    tasks of one run hold it together (each writes only its own documents); a whole-day step
    holds it alone, so it waits for no batch and no batch runs beside it.
    """
    conn = connect(dsn)
    conn.autocommit = True
    token = None
    try:
        with conn.cursor() as cur:
            take = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
            cur.execute(f"select {take}(%s, hashtext(%s))", (_DAY_LOCK_CLASS, run_id))
            if not cur.fetchone()[0]:
                cur.execute(
                    "select l.pid, a.application_name, a.backend_start from pg_locks l"
                    " left join pg_stat_activity a on a.pid = l.pid"
                    " where l.locktype = 'advisory' and l.granted and l.classid = %s"
                    " and l.objid = hashtext(%s)::oid",
                    (_DAY_LOCK_CLASS, run_id),
                )
                holder = cur.fetchone()
                who = f" (held by backend pid {holder[0]} since {holder[2]:%Y-%m-%d %H:%M:%S})" if holder else ""
                raise RunLocked(f"another run of day {run_id} is in progress{who}; not starting a second one")
        token = _LOCK_CONNECTION.set((dsn, conn))
        yield
    finally:
        if token is not None:
            _LOCK_CONNECTION.reset(token)
        # Released before returning: closing alone lets the server drop the lock a moment later, and the
        # next step of the same run (a finish right after its batches) would find it still held.
        with contextlib.suppress(psycopg2.Error), conn.cursor() as cur:
            cur.execute("select pg_advisory_unlock_all()")
        conn.close()


def _idle_lock_connection(dsn: str) -> psycopg2.extensions.connection | None:
    """The connection holding this thread's day lock for ``dsn``, if no transaction is open on it."""
    held = _LOCK_CONNECTION.get()
    return held[1] if held is not None and held[0] == dsn and not held[1].closed else None


@contextlib.contextmanager
def transaction(dsn: str) -> Iterator[psycopg2.extensions.cursor]:
    """One transaction: committed when the block ends, rolled back on any exception. Inside a ``day_lock``
    block of the same DSN it runs on the lock's connection (the session lock outlives the transaction)."""
    conn = _idle_lock_connection(dsn)
    if conn is not None:
        token = _LOCK_CONNECTION.set(None)  # in use: a transaction opened inside this one gets its own connection
        conn.autocommit = False
        try:
            with conn:  # commits or rolls back
                with conn.cursor() as cur:
                    yield cur
        finally:
            _LOCK_CONNECTION.reset(token)
            with contextlib.suppress(psycopg2.Error):  # a broken connection: day_lock's exit closes it
                conn.autocommit = True
        return
    conn = connect(dsn)
    try:
        with conn:  # commits or rolls back
            with conn.cursor() as cur:
                yield cur
    finally:
        conn.close()


@contextlib.contextmanager
def autocommit_cursor(dsn: str) -> Iterator[psycopg2.extensions.cursor]:
    """A cursor outside any transaction (for VACUUM): on the day lock's connection inside a ``day_lock`` block
    of the same DSN, else on a connection of its own."""
    held = _idle_lock_connection(dsn)
    if held is not None:
        with held.cursor() as cur:
            yield cur
        return
    conn = connect(dsn)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


def apply_migrations(dsn: str, migrations_dir: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the numbered ``NNN_*.sql`` files not applied yet, in order; return those applied."""
    applied: list[str] = []
    with transaction(dsn) as cur:
        cur.execute("select pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        cur.execute("create schema if not exists reporting")
        cur.execute(
            "create table if not exists reporting.schema_migrations ("
            " version text primary key, applied_at timestamptz not null default now())"
        )
        cur.execute("select version from reporting.schema_migrations")
        done = {row[0] for row in cur.fetchall()}
        for path in sorted(migrations_dir.glob("[0-9][0-9][0-9]_*.sql")):
            if path.stem in done:
                continue
            cur.execute(path.read_text(encoding="utf-8"))
            cur.execute("insert into reporting.schema_migrations (version) values (%s)", (path.stem,))
            applied.append(path.stem)
    return applied


def copy_rows(cur, table: str, columns: tuple[str, ...], rows) -> int:
    """Bulk-load rows with COPY (text format). Values are None, numbers, lists of numbers or text
    without tabs, newlines or backslashes (ids, hashes, rule names)."""
    import io

    def cell(value) -> str:
        if value is None:
            return "\\N"
        if isinstance(value, list | tuple | set):
            return "{" + ",".join(map(str, value)) + "}"
        return str(value)

    buf = io.StringIO()
    n = 0
    for row in rows:
        # Most cells are str or int: only the others go through cell().
        buf.write("\t".join([v if type(v) is str else str(v) if type(v) is int else cell(v) for v in row]))
        buf.write("\n")
        n += 1
    buf.seek(0)
    cur.copy_expert(f"copy {table} ({', '.join(columns)}) from stdin", buf)
    return n


# COPY's text format: a backslash starts an escape, tab and newline end a cell and a row. Escaped with
# str.replace, each only where needed (str.translate with a mapping runs per character in Python: 50x slower
# on a body; tests/unit/test_batch_plan.py holds the two to the same output).
_COPY_ESCAPES = (("\\", "\\\\"), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))


def copy_cell(value) -> str:
    """One value as a cell of COPY's text format: any text (escaped), numbers, booleans, dates,
    lists of numbers (arrays), None (null). Dicts are the caller's to serialise (jsonb)."""
    if value is None:
        return "\\N"
    if type(value) is str:
        for char, escaped in _COPY_ESCAPES:  # the backslash first: the others add backslashes
            if char in value:
                value = value.replace(char, escaped)
        return value
    if type(value) is bool:
        return "t" if value else "f"
    if isinstance(value, list | tuple):
        return "{" + ",".join(map(str, value)) + "}"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


class CopyData:
    """Rows of any values ``copy_cell`` takes, in COPY's text format (text is escaped, so bodies with tabs,
    newlines and backslashes go through as written): encoded where they are computed, COPYed later, possibly
    by the thread of a ``Behind``."""

    def __init__(self, rows) -> None:
        import io

        buf = io.StringIO()
        n = 0
        for row in rows:
            buf.write("\t".join([copy_cell(v) for v in row]))
            buf.write("\n")
            n += 1
        self.rows, self._buf = n, buf

    def copy(self, cur, table: str, columns: tuple[str, ...]) -> int:
        """COPY the rows into ``table``; return how many went."""
        if self.rows:
            copy_buffer(cur, f"copy {table} ({', '.join(columns)}) from stdin", self._buf)
        return self.rows


def copy_buffer(cur, sql: str, buf) -> None:
    """``sql`` (a ``copy ... from stdin``) fed the whole of ``buf`` (a StringIO or BytesIO written to its end),
    in one read: at psycopg2's default of 8 KB a read, each read took Python's lock from a stage working on
    another thread (``Behind``)."""
    size = buf.tell()
    buf.seek(0)
    cur.copy_expert(sql, buf, size=max(8192, size))


def copy_records(cur, table: str, columns: tuple[str, ...], rows) -> int:
    """Bulk-load rows of any values ``copy_cell`` takes (or a ``CopyData`` of them) with one COPY; return how
    many rows went."""
    return (rows if isinstance(rows, CopyData) else CopyData(rows)).copy(cur, table, columns)


def delete_by_ids(cur, table: str, run_id: str, doc_ids: list[str]) -> None:
    """Delete ``table``'s rows of the run's documents ``doc_ids`` (a staging table keyed by (run_id, doc_id, ...)),
    each document's found through that key: the ids drive a nested loop (a lateral subquery, kept apart by its
    ``offset 0``) of index scans on (run_id, doc_id), and the rows found are deleted by their ctid. Scans that read
    more than the ids' rows are off for the statement: on a table of the stages' fresh rows, without statistics,
    the planner otherwise read all the run's rows of the table to match the ids, in every batch (date_tag's delete
    of nothing: 22 ms a batch at 10k documents; strip's at 100k, with the ids as a literal array: 63 ms a batch),
    a cost growing with batches x run. Here it is the ids': 1-3 ms for 1,000."""
    cur.execute(
        "set local enable_seqscan = off; set local enable_bitmapscan = off;"
        f" delete from {table} where ctid = any(array(select x.ctid from unnest(%s::text[]) b(doc_id),"
        f" lateral (select t.ctid from {table} t where t.run_id = %s and t.doc_id = b.doc_id offset 0) x));"
        " reset enable_seqscan; reset enable_bitmapscan",
        (list(doc_ids), run_id),
    )


def update_from_rows(
    cur, table: str, keys: dict[str, str], key: str, columns: tuple[str, ...], rows, also: dict[str, str] | None = None,
) -> int:
    """Set ``columns`` of ``table``'s rows from ``rows`` (``(key value, *column values)``, or a ``CopyData`` of
    them), set-based: the rows are COPYed into a temporary table of the same column types, then one
    ``update ... from``.
    ``keys`` fixes other columns of the match (e.g. ``{"run_id": day}``); ``also`` sets more columns to SQL
    expressions over the row as it was (``t``) and the new values (``u``), e.g. ``{"strip_draft": "null"}``."""
    cur.execute("drop table if exists _khabar_update")
    cur.execute(
        f"create temporary table _khabar_update on commit drop as"
        f" select {key}, {', '.join(columns)} from {table} with no data"
    )
    n = copy_records(cur, "_khabar_update", (key, *columns), rows)
    if n:
        # a temporary table has no statistics: the join plan needs its size and its key's. Only the key's: the
        # texts' statistics (sampled, decompressed, sorted) were most of the analyze and no plan uses them
        cur.execute(f"analyze _khabar_update ({key})")
        sets = ", ".join([f"{c} = u.{c}" for c in columns] + [f"{c} = {expr}" for c, expr in (also or {}).items()])
        match = "".join(f" and t.{c} = %({c})s" for c in keys)
        cur.execute(f"update {table} t set {sets} from _khabar_update u where t.{key} = u.{key}{match}", keys)
    cur.execute("drop table _khabar_update")
    return n


def overlap_from_env() -> bool:
    """``NEWS_DB_BEHIND``: ``on`` (the default: the calls behind the work run on their own thread) or ``off``
    (they run inline, in order: the stage waits for each)."""
    setting = os.environ.get("NEWS_DB_BEHIND", "on").strip().lower()
    if setting not in ("on", "off"):
        raise ValueError(f"NEWS_DB_BEHIND must be on or off, not {setting!r}")
    return setting == "on"


class Behind:
    """A transaction's database calls run in order by one background thread while the caller computes: a stage
    reads its next documents and writes its last ones while it works on the ones in hand, and waits only for
    what it needs (``wait``) and, at the end, for the last write (``close``). The calls share the caller's
    connection (psycopg2 serialises its use; each call gets a cursor of its own): they are the transaction's,
    committed or rolled back with it. After a failed call the calls still queued are skipped (the transaction
    is aborted) and the error is raised by the next ``wait`` or by ``close``. Used as a context manager: on
    the way out the queue is emptied (with an exception in flight: skipped) before the transaction ends.

    The overlap shortens a stage where a core would otherwise sit idle while it waits (the stage alone on the
    machine, or a database on another one). Where every core is busy it turns the waits into slower work, with
    no gain or loss measured. With ``overlap`` False (by default ``overlap_from_env``) each call runs inline
    when it is submitted, with the same order, results and errors."""

    def __init__(self, cur: psycopg2.extensions.cursor, overlap: bool | None = None) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._conn = cur.connection
        self.overlap = overlap_from_env() if overlap is None else overlap
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="khabar-db") if self.overlap else None
        self._futures: list = []
        self._failed: BaseException | None = None

    def _call(self, fn, args):
        if self._failed is not None:
            return None
        try:
            with self._conn.cursor() as cur:
                return fn(cur, *args)
        except BaseException as exc:
            self._failed = exc
            raise

    def submit(self, fn, *args):
        """Queue ``fn(cursor, *args)`` (without overlap: run it now); returns its future (for ``wait``)."""
        if self._pool is not None:
            future = self._pool.submit(self._call, fn, args)
        else:
            from concurrent.futures import Future

            future = Future()
            try:
                future.set_result(self._call(fn, args))
            except Exception as exc:  # kept for wait or close, as the thread's future keeps it
                future.set_exception(exc)
        self._futures.append(future)
        return future

    def wait(self, future):
        """Block until ``future`` is done; its result, or the queue's first error."""
        result = future.result()
        if self._failed is not None:
            raise self._failed
        return result

    def close(self) -> None:
        """Block until every queued call is done; raise the first error."""
        try:
            for future in self._futures:
                self.wait(future)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            self._futures.clear()

    def __enter__(self) -> Behind:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        self._failed = self._failed or exc  # skip what is queued; the transaction rolls back
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def stream_behind(cur, name: str, query: str, params, size: int, work, write) -> tuple[int, int]:
    """The rows of ``query`` through ``work(rows)`` ``size`` at a time (a server-side cursor ``name``); what
    ``work`` returns (the chunk's writes, encoded: ``CopyData``) goes to ``write(cursor, it)``, which returns a
    count. The reads and writes run behind the work (``Behind``): while the caller works on a chunk, the next one
    is read and the last one written, so it waits for the database for the first chunk's read and the last
    chunk's write. What takes Python's lock (making objects of the rows, encoding the writes) belongs in
    ``work``, on the caller's thread: on the other one, it took the lock from the caller's work as often.
    Returns (rows, the writes' counts summed)."""
    stream = None

    def fetch(c) -> list[tuple]:
        nonlocal stream
        if stream is None:
            stream = c.connection.cursor(name=name)
            stream.execute(query, params)
        rows = stream.fetchmany(size)
        if len(rows) < size:
            stream.close()
        return rows

    n, writes = 0, []
    with Behind(cur) as behind:
        fetching = behind.submit(fetch)
        while rows := behind.wait(fetching):
            fetching = behind.submit(fetch) if len(rows) == size else None
            writes.append(behind.submit(write, work(rows)))
            n += len(rows)
            if fetching is None:
                break
    return n, sum(w.result() or 0 for w in writes)
