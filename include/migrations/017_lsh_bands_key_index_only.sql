-- 017: reporting.lsh_bands keeps one index, on band_key (what dedup looks the run's keys up in), and no primary
-- key on (article_id, band). Keeping that key up to date with the band_key index was half the load's cost of
-- writing the run's 622k band rows at 10k documents, and both indexes outgrow shared_buffers at 100k, where
-- the inserts fall at random in both. A load (include/sql/load_run.sql) now inserts the run's rows in band_key
-- order, so they go into the one index in order, and finds the rows of a day's earlier load through their
-- keys, kept per article in reporting.lsh_article_bands (one row per article, as staging.lsh_bands keeps them).
-- Idempotent: the keys are copied from reporting.lsh_bands and the key dropped only while it still exists.

create table if not exists reporting.lsh_article_bands (
    article_id text     primary key,
    band_keys  bigint[] not null   -- the article's band keys, band b at position b + 1
);

do $$
declare
    pkey name;
begin
    select conname into pkey from pg_constraint where conrelid = 'reporting.lsh_bands'::regclass and contype = 'p';
    if pkey is not null then
        insert into reporting.lsh_article_bands (article_id, band_keys)
        select article_id, array_agg(band_key order by band) from reporting.lsh_bands group by article_id
        on conflict (article_id) do nothing;
        execute format('alter table reporting.lsh_bands drop constraint %I', pkey);
    end if;
end $$;
