-- 016: staging.lsh_bands holds one row per document, its 64 band keys in an array (band b at position b + 1),
-- instead of one row per band. Writing a run's band keys was 640k rows and their primary-key entries at 10k
-- documents, the costliest COPY of the run (12.7 s of a re-run's 17 s in the database for dedup's
-- fingerprinting); the queries that read them unnest the array (khabar.dedup_stage.decide, load_run.sql).
-- reporting.lsh_bands keeps a row per band: its band_key index is what the run's keys are looked up in.
-- Re-runnable: the old table is replaced only while it still has its per-band layout; staged fingerprints go
-- with it (dedup's decide prepares any live document that lacks one).

do $$
begin
    if exists (select 1 from information_schema.columns
               where table_schema = 'staging' and table_name = 'lsh_bands' and column_name = 'band') then
        drop table staging.lsh_bands;
        truncate staging.dedup_shingles;
    end if;
end $$;

create unlogged table if not exists staging.lsh_bands (
    run_id    text     not null,
    doc_id    text     not null,
    band_keys bigint[] not null,
    primary key (run_id, doc_id)
);
