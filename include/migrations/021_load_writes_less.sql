-- 021: the load writes less for what re-processing and dedup keep (at 10k documents the kept stage outputs
-- took 1.6 s and reporting.lsh_bands' 622k rows 1.7 s, most of the load's time in the database).
--
-- reporting.stage_outputs keeps a document's texts as text columns, and nothing the warehouse already holds.
-- A kept row's JSON was built from every kept column, so each stripped text and body was read decompressed,
-- turned into JSON and compressed again with the row. stripped_text (and the body of a document that is not
-- an article) now go into columns, copied as staging compressed them; an article's body, stripped lines and
-- date mentions are kept once, in reporting.articles, stripped_lines and date_mentions, and re-processing
-- restores them from there (khabar.reprocess). Rows kept before this migration (article null) hold everything
-- in their JSON and are restored as before.

alter table reporting.stage_outputs
    add column if not exists stripped_text text,  -- document rows: strip's text (not in row)
    add column if not exists body          text,  -- document rows that are not articles: the body (not in row)
    add column if not exists article       boolean;  -- document rows: loaded as an article (body, lines, mentions in reporting)

-- kept in the row, compressed, rather than in the TOAST table: one write per text instead of a TOAST row and its
-- index entry (a value too long for the page still goes out of line)
alter table reporting.stage_outputs alter column stripped_text set storage main, alter column body set storage main;

-- reporting.lsh_bands keeps (band_key, article_id): no band column. A key is a hash personalised by its band
-- (khabar.dedup.band_keys), so equal keys are of the same band, and dedup looks keys up by band_key alone; the
-- load no longer numbers each array's elements to fill it (its 622k rows at 10k documents were the load's
-- costliest insert). Idempotent: the table is rewritten only while it still has the column.
do $$
begin
    if exists (select 1 from information_schema.columns
               where table_schema = 'reporting' and table_name = 'lsh_bands' and column_name = 'band') then
        create table reporting.lsh_bands_021 (
            band_key   bigint not null,
            article_id text   not null
        );
        insert into reporting.lsh_bands_021 (band_key, article_id)
        select band_key, article_id from reporting.lsh_bands order by band_key;
        drop table reporting.lsh_bands;
        alter table reporting.lsh_bands_021 rename to lsh_bands;
        create index lsh_bands_key_idx on reporting.lsh_bands (band_key);
    end if;
end $$;
