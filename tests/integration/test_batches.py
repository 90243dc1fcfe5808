"""Batches against a real PostgreSQL: the warehouse holds the same rows whatever the batch size (and the
order the batches run in), the whole-day path included; a run's batch tasks run at once under the shared
day lock; a day-level step or another run is kept out meanwhile; another run's batch task refuses to write
into a day it did not ingest."""

from __future__ import annotations

import shutil
import threading
from datetime import date

import psycopg2
import pytest

from helpers import query, table_checksums
from khabar.gates import validate_stage
from khabar.paths import SAMPLE_LANDING_DIR
from khabar.pipeline import (
    BATCH_STAGES,
    FINISH_FUNCTIONS,
    STAGES,
    Run,
    RunSuperseded,
    plan_batches,
    run_day,
    run_finish,
    run_stage,
)
from khabar.warehouse import RunLocked, day_lock

pytestmark = pytest.mark.integration
DAYS = (date(2022, 1, 25), date(2022, 1, 26))
RUN = "manual__batches"  # the Airflow run id on every load compared (reporting.runs keeps it)
SLOGAN = "سرویس استان‌ها ـ میز خبر نمونه"  # recurs in the outlet's articles; no lexicon names it


def _article(n: int) -> str:
    return (
        f"خبر شماره {n} درباره افتتاح طرح‌های آبرسانی\n"
        f"خبرگزاری نمونه: مدیرکل استان از افتتاح {n} طرح آبرسانی در روستاها خبر داد و گفت کار ادامه دارد.\n"
        f"{SLOGAN}\n"
        f"وی افزود: اعتبار این طرح‌ها {n * 10} میلیارد تومان است و تا پایان سال {n + 3} طرح دیگر آغاز می‌شود.\n"
    )


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    """The sample landing zone's two days (HTML, JSON, JSONL, cp1256, BOM, junk, an exact copy), plus an
    outlet whose slogan recurs: on day 1 in two articles and an exact copy of one of them (a copy counts
    once, so with 3 documents needed it is not furniture yet), on day 2 in two more (now it is)."""
    root = tmp_path_factory.mktemp("landing")
    for day in DAYS:
        shutil.copytree(SAMPLE_LANDING_DIR / day.isoformat(), root / day.isoformat())
    first = root / DAYS[0].isoformat()
    (first / "a_outlet_1.txt").write_text(_article(1), encoding="utf-8")
    (first / "m_outlet_2.txt").write_text(_article(2), encoding="utf-8")
    (first / "z_outlet_1_copy.txt").write_text(_article(1), encoding="utf-8")  # far from its original: another batch
    (first / "only_furniture.txt").write_text("پربیننده ترین خبرها\nانتهای پیام\n", encoding="utf-8")
    for n in (3, 4):
        (root / DAYS[1].isoformat() / f"outlet_{n}.txt").write_text(_article(n), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def env():
    mp = pytest.MonkeyPatch()
    mp.setenv("NEWS_FURNITURE_MIN_DOCUMENTS", "3")
    yield
    mp.undo()


def run_in_batches(dsn: str, run: Run, reverse: bool = False) -> None:
    """What news_ingest does task by task: ingest, then each batch stage's batches (in order or reversed),
    its finish, and every gate."""
    batches = run_stage(dsn, "ingest", run)["batches"]
    validate_stage(dsn, "ingest", run.run_id, run.day)
    for stage in STAGES[1:]:
        if stage in BATCH_STAGES:
            for batch in reversed(batches) if reverse else batches:
                run_stage(dsn, stage, run, batch)
            if stage in FINISH_FUNCTIONS:
                run_finish(dsn, stage, run)
        else:
            run_stage(dsn, stage, run)
        validate_stage(dsn, stage, run.run_id, run.day)


@pytest.fixture(scope="module")
def reference(fresh_db, landing, env):
    """Both days through run_day (the whole day at once, no batches)."""
    for day in DAYS:
        run_day(fresh_db, Run(day, landing, airflow_run_id=RUN, quarantine_dir=landing.parent / "q"))
    return table_checksums(fresh_db)


def test_the_reference_exercises_learned_furniture_and_copies(fresh_db, reference):
    bodies = dict(query(fresh_db, "select source_path, body from reporting.articles where source_path like '%outlet%'"))
    assert sorted(bodies) == ["2022-01-25/a_outlet_1.txt", "2022-01-25/m_outlet_2.txt", "2022-01-26/outlet_3.txt",
                              "2022-01-26/outlet_4.txt"]  # the copy is a duplicate
    # day 1: 2 distinct bodies (the copy counts once) < 3, the slogan stays; day 2: 2 + 2 >= 3, it goes
    assert ["میز خبر نمونه" in body for _, body in sorted(bodies.items())] == [True, True, False, False]
    assert query(fresh_db, "select documents from reporting.outlet_lines where line = %s order by run_id", (SLOGAN,)) == [(2,), (2,)]
    assert query(fresh_db, "select reason from reporting.quarantine where source_path like '%only_furniture%'") == [
        ("empty after boilerplate removal",)
    ]
    assert reference["articles_rows"] > 10 and reference["stripped_lines_rows"] > 0 and reference["date_mentions_rows"] > 0


@pytest.mark.parametrize(("batch_size", "reverse"), [(1, False), (2, True), (3, False), (10_000, False)])
def test_any_batch_size_gives_the_same_warehouse(fresh_db, landing, env, reference, batch_size, reverse, monkeypatch):
    import khabar.dedup_stage as dedup_stage
    import khabar.pipeline as pipeline

    # ingest, the batch stages, dedup's fingerprints and strip's finish stream the day in chunks: of one or two documents here, to
    # cross their edges (the batch stages' chunks read and written behind the work, a batch's last chunk full)
    monkeypatch.setattr(pipeline, "INGEST_CHUNK", min(batch_size, 2))
    monkeypatch.setattr(pipeline, "FINISH_CHUNK", min(batch_size, 2))
    monkeypatch.setattr(pipeline, "CHUNK", min(batch_size, 2))
    monkeypatch.setattr(dedup_stage, "PREPARE_CHUNK", min(batch_size, 2))
    # with the calls behind the work on their thread, and inline (khabar.warehouse.Behind): the same rows
    monkeypatch.setenv("NEWS_DB_BEHIND", "on" if batch_size % 2 else "off")
    for day in DAYS:
        run = Run(day, landing, airflow_run_id=RUN, quarantine_dir=landing.parent / "q",
                  batch_size=batch_size)
        run_in_batches(fresh_db, run, reverse)
        (batches,) = query(fresh_db, "select batches from staging.ingests where run_id = %s", (run.run_id,))[0]
        (documents,) = query(fresh_db, "select documents from staging.ingests where run_id = %s", (run.run_id,))[0]
        assert batches == -(-documents // batch_size)
    assert table_checksums(fresh_db) == reference


def test_batch_tasks_of_one_run_run_together_and_keep_day_level_steps_out(fresh_db, landing, env, reference):
    run = Run(DAYS[0], landing, airflow_run_id=RUN, quarantine_dir=landing.parent / "q", batch_size=2)
    batches = run_stage(fresh_db, "ingest", run)["batches"]
    assert len(batches) >= 5
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(batches))

    def go(batch: int) -> None:
        try:
            barrier.wait()
            run_stage(fresh_db, "strip", run, batch)
        except BaseException as exc:  # collected: a thread's exception would otherwise vanish
            errors.append(exc)

    # Another batch task of the run holds the shared lock throughout: the batches still run, a day-level
    # step (this run's finish, another run's ingest) is refused while any of them holds it.
    with day_lock(fresh_db, run.run_id, shared=True):
        threads = [threading.Thread(target=go, args=(b,)) for b in batches]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with pytest.raises(RunLocked):
            run_finish(fresh_db, "strip", run)
        with pytest.raises(RunLocked):
            run_stage(fresh_db, "ingest", Run(DAYS[0], landing, airflow_run_id="run_b"))
        with pytest.raises(RunLocked):
            run_day(fresh_db, run)
    assert errors == []
    # every document has its batch's text (the finish's draft: strip_draft stays null until a finish changes the text)
    assert query(fresh_db, "select count(*) from staging.documents where run_id = %s and stripped_text is null",
                 (run.run_id,)) == [(0,)]
    assert query(fresh_db, "select count(*) from staging.documents where run_id = %s and strip_draft is not null",
                 (run.run_id,)) == [(0,)]
    # and the other way round: while a day-level step holds the lock, no batch task starts
    with day_lock(fresh_db, run.run_id), pytest.raises(RunLocked):
        run_stage(fresh_db, "normalize", run, batches[0])
    run_finish(fresh_db, "strip", run)
    validate_stage(fresh_db, "strip", run.run_id, run.day)
    for stage in STAGES[2:]:
        if stage in BATCH_STAGES:
            for batch in batches:
                run_stage(fresh_db, stage, run, batch)
            if stage in FINISH_FUNCTIONS:
                run_finish(fresh_db, stage, run)
        else:
            run_stage(fresh_db, stage, run)
        validate_stage(fresh_db, stage, run.run_id, run.day)
    run_in_batches(fresh_db, Run(DAYS[1], landing, airflow_run_id=RUN, quarantine_dir=landing.parent / "q"))
    assert table_checksums(fresh_db) == reference


def test_a_finish_refuses_when_a_batch_did_not_run(fresh_db, landing, env):
    from khabar.pipeline import IncompleteStage

    run = Run(DAYS[0], landing, airflow_run_id="run_c", quarantine_dir=landing.parent / "q", batch_size=4)
    batches = run_stage(fresh_db, "ingest", run)["batches"]
    for batch in batches[:-1]:
        run_stage(fresh_db, "strip", run, batch)
    with pytest.raises(IncompleteStage, match="not stripped by any batch"):
        run_finish(fresh_db, "strip", run)
    run_stage(fresh_db, "strip", run, batches[-1])
    run_finish(fresh_db, "strip", run)
    state = (
        "select md5(string_agg(t::text, '|' order by t::text)) from (select doc_id, status, stripped_text, text_loss,"
        " needs_review from staging.documents where run_id = %(d)s union all select doc_id, line_no::text, line, null, null"
        " from staging.stripped_lines where run_id = %(d)s union all select source_path, stage, reason, record_index, null"
        " from staging.quarantine where run_id = %(d)s) t"
    )
    first = query(fresh_db, state, {"d": run.run_id})
    run_finish(fresh_db, "strip", run)  # a retried finish starts from the batches' drafts: same result
    assert query(fresh_db, state, {"d": run.run_id}) == first
    validate_stage(fresh_db, "strip", run.run_id, run.day)


def test_another_runs_batch_task_does_not_write_into_the_day(fresh_db, landing, env):
    run_a = Run(DAYS[0], landing, airflow_run_id="run_a", quarantine_dir=landing.parent / "q", batch_size=3)
    run_b = Run(DAYS[0], landing, airflow_run_id="run_b", quarantine_dir=landing.parent / "q", batch_size=3)
    run_stage(fresh_db, "ingest", run_a)
    run_stage(fresh_db, "strip", run_a, 0)
    run_stage(fresh_db, "ingest", run_b)  # run b re-ingests the day (say run a's worker was stalled)
    with pytest.raises(RunSuperseded, match="ingested by run 'run_b'"):
        run_stage(fresh_db, "strip", run_a, 1)
    with pytest.raises(RunSuperseded):
        run_finish(fresh_db, "strip", run_a)
    # nothing of run a's reached run b's staging: no document is stripped yet
    assert query(fresh_db, "select count(*) from staging.documents where run_id = %s and stripped_text is not null",
                 (run_b.run_id,)) == [(0,)]
    with pytest.raises(ValueError, match="does not run in batches"):
        run_stage(fresh_db, "load", run_b, 0)


def test_copy_records_and_update_from_rows_keep_any_text_as_written(fresh_db):
    from khabar.warehouse import copy_records, transaction, update_from_rows

    texts = ["خط اول\nخط\tدوم\r\nسوم", "\\N", "a\\nb", "\\.", "", "نیم‌فاصله\u200c و \u2028 و \x0b", None]
    with transaction(fresh_db) as cur:
        cur.execute("create temporary table t (k integer primary key, body text, n integer[], ok boolean, x real)")
        copy_records(cur, "t", ("k", "body", "n", "ok", "x"), ((i, s, [i, 2], i % 2 == 0, 0.5) for i, s in enumerate(texts)))
        cur.execute("select body, n, ok, x from t order by k")
        assert cur.fetchall() == [(s, [i, 2], i % 2 == 0, 0.5) for i, s in enumerate(texts)]
        update_from_rows(cur, "t", {}, "k", ("body", "x"), ((i, s and s[::-1], None) for i, s in enumerate(texts)))
        cur.execute("select body, x from t order by k")
        assert cur.fetchall() == [(s and s[::-1], None) for s in texts]


@pytest.mark.parametrize("overlap", [True, False])
def test_calls_behind_the_work_are_the_transactions_in_order_and_a_failure_stops_them(fresh_db, overlap, monkeypatch):
    """``Behind`` runs its calls one after another on the transaction's connection, on a thread of its own (or
    inline, without overlap): their writes commit or roll back with the transaction; after a failed call the
    queued ones are skipped and the error reaches the caller (at its next wait, or when the block ends), and the
    transaction rolls back."""
    from khabar.warehouse import Behind, transaction

    monkeypatch.setenv("NEWS_DB_BEHIND", "on" if overlap else "off")

    def insert(cur, k: int) -> int:
        cur.execute("insert into behind_t values (%s, pg_backend_pid()) returning k", (k,))
        return cur.fetchone()[0]

    with transaction(fresh_db) as cur:
        cur.execute("drop table if exists behind_t")
        cur.execute("create table behind_t (k integer primary key, pid integer)")
    with transaction(fresh_db) as cur:
        cur.execute("select pg_backend_pid()")
        (pid,) = cur.fetchone()
        with Behind(cur) as behind:
            futures = [behind.submit(insert, k) for k in range(5)]
            assert behind.wait(futures[2]) == 2
            threads = behind.submit(lambda c: threading.current_thread().name)
        assert [f.result() for f in futures] == list(range(5))
        assert behind.overlap is overlap
        assert (threads.result() != threading.current_thread().name) is overlap
        cur.execute("select k from behind_t where pid = %s order by k", (pid,))
        assert cur.fetchall() == [(k,) for k in range(5)]
    assert query(fresh_db, "select count(*) from behind_t") == [(5,)]

    with pytest.raises(psycopg2.errors.UniqueViolation), transaction(fresh_db) as cur, Behind(cur) as behind:
        behind.submit(insert, 10)
        behind.submit(insert, 0)  # already there: fails
        skipped = behind.submit(insert, 11)
    assert skipped.result() is None
    with transaction(fresh_db) as cur:
        with pytest.raises(psycopg2.errors.UniqueViolation), Behind(cur) as behind:
            failed = behind.submit(insert, 1)
            behind.wait(failed)
        cur.connection.rollback()
    with pytest.raises(RuntimeError), transaction(fresh_db) as cur, Behind(cur) as behind:
        behind.submit(insert, 20)
        raise RuntimeError  # the stage's own failure: what is queued is skipped or done, then the rollback
    assert query(fresh_db, "select count(*) from behind_t") == [(5,)]


def test_calls_go_behind_the_work_unless_set_off(monkeypatch):
    from khabar import warehouse

    monkeypatch.delenv("NEWS_DB_BEHIND", raising=False)
    assert warehouse.overlap_from_env() is True
    for setting, overlap in (("on", True), ("off", False), (" OFF ", False)):
        monkeypatch.setenv("NEWS_DB_BEHIND", setting)
        assert warehouse.overlap_from_env() is overlap
    monkeypatch.setenv("NEWS_DB_BEHIND", "auto")
    with pytest.raises(ValueError, match="NEWS_DB_BEHIND"):
        warehouse.overlap_from_env()


def test_a_task_runs_its_transactions_on_the_day_locks_connection(fresh_db):
    """A batch task opens one connection: its transactions run on the one holding the day's lock (the lock
    outlives them, a failed one included); a transaction inside one of them, another thread, or a block
    without the lock gets a connection of its own."""
    from khabar.warehouse import autocommit_cursor, transaction

    def backend(cur) -> int:
        cur.execute("select pg_backend_pid()")
        return cur.fetchone()[0]

    def lock_holders() -> list[int]:
        return [pid for (pid,) in query(
            fresh_db, "select pid from pg_locks where locktype = 'advisory' and granted"
            " and database = (select oid from pg_database where datname = current_database())",
        )]

    with transaction(fresh_db) as cur:
        outside = backend(cur)
    with day_lock(fresh_db, "2022-01-25", shared=True):
        (holder,) = lock_holders()
        assert holder != outside
        with transaction(fresh_db) as cur:
            assert backend(cur) == holder
            with transaction(fresh_db) as inner:
                assert backend(inner) != holder
            with autocommit_cursor(fresh_db) as inner:
                assert backend(inner) != holder
        with pytest.raises(psycopg2.errors.DivisionByZero), transaction(fresh_db) as cur:
            cur.execute("select 1 / 0")
        with transaction(fresh_db) as cur:  # rolled back, not broken: the next transaction runs on it
            assert backend(cur) == holder
        with autocommit_cursor(fresh_db) as cur:
            assert backend(cur) == holder
        seen: list[int] = []

        def other_thread() -> None:
            with transaction(fresh_db) as cur:
                seen.append(backend(cur))

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert seen and seen[0] != holder
        assert lock_holders() == [holder]
    assert lock_holders() == []


@pytest.mark.parametrize(("batch_size", "max_batches"), [(2, 1024), (1, 4)])
def test_ingest_numbers_batches_in_source_order_as_it_streams(fresh_db, landing, env, monkeypatch, batch_size, max_batches):
    """Ingest COPYs the documents a chunk at a time as it reads the files: each document's batch is its rank in
    (source_path, record_index) order over the batch size, and a day of more than ``MAX_BATCHES`` batches of
    the asked size gets fewer, bigger ones (``plan_batches``), renumbered in the same order."""
    import khabar.pipeline as pipeline

    monkeypatch.setattr(pipeline, "INGEST_CHUNK", 3)  # several COPYs even on the sample day
    monkeypatch.setattr(pipeline, "MAX_BATCHES", max_batches)
    run = Run(DAYS[0], landing, quarantine_dir=landing.parent / "q", batch_size=batch_size)
    out = run_stage(fresh_db, "ingest", run)
    rows = query(
        fresh_db,
        "select batch_no, row_number() over (order by source_path collate \"C\", record_index) - 1 from staging.documents"
        " where run_id = %s order by source_path collate \"C\", record_index",
        (run.run_id,),
    )
    size, batches = plan_batches(len(rows), batch_size, max_batches)
    assert len(rows) == out["documents"] > 8
    assert (out["batch_size"], out["batches"]) == (size, list(range(batches)))
    assert [batch for batch, _ in rows] == [rank // size for _, rank in rows]
    assert max_batches == 1024 or batches == max_batches  # the sample day has more than 4 documents: capped
    assert query(fresh_db, "select batch_size, batches, documents from staging.ingests where run_id = %s", (run.run_id,)) == [
        (size, batches, len(rows))
    ]
