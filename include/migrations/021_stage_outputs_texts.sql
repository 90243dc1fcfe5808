-- 021: reporting.stage_outputs keeps a document's texts as text columns, and nothing the warehouse already holds.
-- A kept row's JSON was built from every kept column, so each stripped text and body was read decompressed,
-- turned into JSON and compressed again with the row (1.6 s of the load at 10k documents). stripped_text (and
-- the body of a document that is not an article) now go into columns, copied as staging compressed them; an
-- article's body, stripped lines and date mentions are kept once, in reporting.articles, stripped_lines and
-- date_mentions, and re-processing restores them from there (khabar.reprocess). Rows kept before this
-- migration (article null) hold everything in their JSON and are restored as before. Idempotent.

alter table reporting.stage_outputs
    add column if not exists stripped_text text,  -- document rows: strip's text (not in row)
    add column if not exists body          text,  -- document rows that are not articles: the body (not in row)
    add column if not exists article       boolean;  -- document rows: loaded as an article (body, lines, mentions in reporting)

-- kept in the row, compressed, rather than in the TOAST table: one write per text instead of a TOAST row and its
-- index entry (a value too long for the page still goes out of line)
alter table reporting.stage_outputs alter column stripped_text set storage main, alter column body set storage main;
