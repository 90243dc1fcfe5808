-- 008: re-processing. Every article records the pipeline version that produced it; duplicates keep the
-- text they were read with, so a day can be rebuilt from the warehouse alone (khabar.reprocess): articles
-- already keep raw_text, quarantined documents raw_record, and files their format and encoding. What a
-- re-processing run changed is kept in reprocess_changes. Idempotent, like every migration.

alter table reporting.articles   add column if not exists pipeline_version text;   -- khabar.version.pipeline_version
alter table reporting.duplicates add column if not exists raw_text         text;   -- as read (null: loaded before 008)

-- The day as it stood before a re-processing run: one row per document, kept until another
-- re-processing run of the day starts, so a retried run still reports against the state before it.
create table if not exists staging.reprocess_before (
    reprocess_id     text    not null,
    run_id           text    not null,
    source_path      text    not null,
    record_index     integer not null,
    outcome          text    not null,   -- article | duplicate | quarantined
    body_hash        text,
    published_at     timestamptz,
    story_id         text,
    pipeline_version text,
    primary key (reprocess_id, run_id, source_path, record_index)
);

-- One row per document and kind of change a re-processing run made.
create table if not exists reporting.reprocess_changes (
    reprocess_id     text        not null,   -- the Airflow run id of news_reprocess (or the caller's id)
    run_id           text        not null,   -- the day re-processed
    article_id       text        not null,   -- the document's id (an article, or a duplicate's/quarantined document's own id)
    source_path      text        not null,
    record_index     integer     not null,
    change           text        not null,   -- outcome | body | date | story
    old_value        text,                   -- outcome name, body_hash, published_at (ISO, UTC) or story_id
    new_value        text,
    old_version      text,
    new_version      text,
    reprocessed_at   timestamptz not null default now(),
    primary key (reprocess_id, run_id, article_id, change)
);
create index if not exists reprocess_changes_run_idx on reporting.reprocess_changes (run_id);
