-- 013: indexes the load (include/sql/load_run.sql) needs so that its cost grows with the run, not with
-- the warehouse's history. Idempotent; applied by khabar.warehouse.apply_migrations.

-- A file's exact copy on an earlier day: the first by (run_id, source_path) among the same sha256,
-- read from the index in order instead of filtering every earlier run's files.
create index if not exists files_sha_run_idx on reporting.files (sha256, run_id, source_path);

-- A re-load deletes the mentions of the run's articles by article_id.
create index if not exists date_mentions_article_idx on reporting.date_mentions (article_id);
