-- 005: deduplication state that scales (stored shingles, set-based candidate lookup) and stable stories
-- (merges recorded, outlets kept). Idempotent; applied by khabar.warehouse.apply_migrations.

-- What verification needs, so a candidate's body is never re-shingled: the sorted 32-bit hashes of its
-- word 5-grams (khabar.dedup.shingles). Articles loaded before 005 have no row; dedup falls back to their body.
create table if not exists staging.dedup_shingles (
    run_id   text      not null,
    doc_id   text      not null,
    shingles integer[] not null,
    primary key (run_id, doc_id)
);
create table if not exists reporting.dedup_shingles (
    article_id text      primary key,
    shingles   integer[] not null
);

-- The run's band keys are joined to reporting.lsh_bands in one query.
create index if not exists staging_lsh_bands_key_idx on staging.lsh_bands (run_id, band_key);

-- A story merged into an older one because an article (the bridge) matched both. Merges are permanent:
-- re-running the bridging day keeps the record even though the stories are already one.
create table if not exists staging.story_merges (
    run_id            text not null,
    merged_story_id   text not null,
    into_story_id     text not null,
    bridge_article_id text not null,
    primary key (run_id, merged_story_id)
);
create table if not exists reporting.story_merges (
    merged_story_id   text primary key,
    into_story_id     text not null,
    bridge_article_id text not null,
    run_id            text not null
);
create index if not exists story_merges_into_idx on reporting.story_merges (into_story_id);

-- Stories keep their outlets beside the member count and first publication.
alter table reporting.stories add column if not exists outlets text[] not null default '{}';
alter table reporting.stories add column if not exists outlet_count integer not null default 0;

-- One decision per pair: a re-run of an earlier day does not record again a pair a later day decided.
create index if not exists dedup_decisions_pair_idx on reporting.dedup_decisions (article_id, other_article_id);
create index if not exists dedup_decisions_other_idx on reporting.dedup_decisions (other_article_id);
