-- 015: staging.lsh_bands keeps only its primary key (run_id, doc_id, band). The index on (run_id, band_key)
-- from 005 was used by no plan of khabar.dedup_stage.decide (the run's self-join and the join to
-- reporting.lsh_bands are hash joins over the run's rows, which the primary key's run_id finds), yet keeping it
-- up to date was half the cost of writing the run's band keys: 1.6 s of 3 s of CPU for 622k rows at 10k
-- documents, its inserts falling at random in an index that outgrows shared_buffers at 100k. Idempotent.

drop index if exists staging.staging_lsh_bands_key_idx;
