-- 014: the staging tables are UNLOGGED. Staging is a run's work in progress, rebuilt from the landing zone
-- (or, when re-processing, from reporting); writing it to the WAL as well cost more than half the WAL of a run
-- (1.5 GB of 2.2 GB at 10k documents) and the checkpoints that followed. PostgreSQL empties unlogged tables
-- when it restarts after a crash (not after a clean shutdown). Idempotent, like every migration.
--
-- Two staging tables stay logged: staging.ingests (which run ingested a day) and staging.reprocess_before
-- (the state a re-processing run reports against). A day whose ingests row survived while its row in
-- staging.ingest_marks (unlogged) did not has lost its staging rows: the later tasks of the run refuse to go
-- on (khabar.pipeline.StagingLost) and the day is re-run from ingest.

alter table staging.files           set unlogged;
alter table staging.documents       set unlogged;
alter table staging.stripped_lines  set unlogged;
alter table staging.quarantine      set unlogged;
alter table staging.outlet_lines    set unlogged;
alter table staging.date_mentions   set unlogged;
alter table staging.calendar        set unlogged;
alter table staging.date_coverage   set unlogged;
alter table staging.lsh_bands       set unlogged;
alter table staging.dedup_shingles  set unlogged;
alter table staging.dedup_decisions set unlogged;
alter table staging.story_merges    set unlogged;

-- One row per day whose staging rows were written since PostgreSQL last started clean (ingest, or a
-- re-processing rebuild, writes it in the same transaction as the rows).
create unlogged table if not exists staging.ingest_marks (
    run_id text primary key
);
insert into staging.ingest_marks (run_id)
select run_id from staging.ingests
on conflict (run_id) do nothing;
