-- Load one run from staging into reporting. Runs inside one transaction (khabar.pipeline.load);
-- parameters: %(run_id)s, %(airflow_run_id)s, %(version)s. Re-running it leaves the same rows.
--
-- Every statement touches the run's rows through an index or one hash of the run's rows: its cost
-- grows with the run, not with the warehouse's history or as files x documents.

-- The stages have just written the staging tables: without fresh statistics the planner takes the
-- run's rows for a few hundred and joins them in nested loops (6 s instead of 0.3 s at 10k documents).
-- ANALYZE reads a fixed sample (30,000 rows at most), so this costs the same at any size.
analyze staging.documents (run_id, doc_id, file_id, source_path, record_index, status, story_id);
analyze staging.files;
analyze staging.quarantine;
analyze staging.stripped_lines (run_id, doc_id);  -- not the lines: sorting 30,000 sampled texts for their statistics, which no plan uses
analyze staging.date_mentions (run_id, doc_id);
analyze staging.lsh_bands (run_id, doc_id);  -- not the key arrays: their statistics (most common elements) are costly and no plan uses them
analyze staging.dedup_shingles (run_id, doc_id);  -- not the arrays: their statistics cost 0.7 s at 10k and no plan uses them
analyze staging.dedup_decisions;
analyze staging.story_merges;

create temporary table touched_stories on commit drop as
    select distinct story_id from reporting.articles where run_id = %(run_id)s
    union
    select distinct story_id from staging.documents
     where run_id = %(run_id)s and status = 'active' and story_id is not null
    union
    select merged_story_id from staging.story_merges where run_id = %(run_id)s
    union
    select into_story_id from staging.story_merges where run_id = %(run_id)s;
analyze touched_stories;

-- Merges first: the merged stories' articles (of any day) move to the surviving story.
update reporting.articles a
   set story_id = m.into_story_id
  from staging.story_merges m
 where m.run_id = %(run_id)s and a.story_id = m.merged_story_id;

insert into reporting.story_merges (merged_story_id, into_story_id, bridge_article_id, run_id)
select merged_story_id, into_story_id, bridge_article_id, run_id from staging.story_merges where run_id = %(run_id)s
on conflict (merged_story_id) do nothing;

delete from reporting.stripped_lines where article_id in (select article_id from reporting.articles where run_id = %(run_id)s);
-- Band keys: only the articles whose keys changed (or that are gone) lose their rows, and only those whose keys
-- changed (or that are new) get rows; a re-run with the same keys touches none of the 64 rows per article.
-- reporting.lsh_bands has one index, on band_key (migration 017): a day's earlier rows are found through
-- the keys its articles had, kept per article in reporting.lsh_article_bands.
create temporary table lsh_kept on commit drop as
    select o.article_id from reporting.lsh_article_bands o
      join staging.lsh_bands l on l.run_id = %(run_id)s and l.doc_id = o.article_id and l.band_keys = o.band_keys
     where o.article_id in (select article_id from reporting.articles where run_id = %(run_id)s);
create temporary table lsh_stale on commit drop as
    select o.article_id, o.band_keys from reporting.lsh_article_bands o
     where o.article_id in (select article_id from reporting.articles where run_id = %(run_id)s)
       and not exists (select 1 from lsh_kept k where k.article_id = o.article_id);
analyze lsh_kept;
analyze lsh_stale;
delete from reporting.lsh_bands b
 using (select o.article_id, k.band_key from lsh_stale o, unnest(o.band_keys) as k(band_key) order by k.band_key) o
 where b.band_key = o.band_key and b.article_id = o.article_id;
delete from reporting.lsh_article_bands where article_id in (select article_id from lsh_stale);
delete from reporting.dedup_shingles where article_id in (select article_id from reporting.articles where run_id = %(run_id)s);
delete from reporting.dedup_decisions where run_id = %(run_id)s;
-- (two statements: one with "or" between the conditions reads every mention of every day)
delete from reporting.date_mentions where run_id = %(run_id)s;
delete from reporting.date_mentions where article_id in (select article_id from reporting.articles where run_id = %(run_id)s);
delete from reporting.date_coverage where run_id = %(run_id)s;
delete from reporting.duplicates where run_id = %(run_id)s;
delete from reporting.articles a
 where a.run_id = %(run_id)s
   and not exists (select 1 from staging.documents d
                    where d.run_id = %(run_id)s and d.doc_id = a.article_id and d.status = 'active');

-- The canonical article each story the run touches will have once the run's articles are in (as the stories
-- insert below picks it), so that they go in with is_canonical set: the update after the stories then changes
-- only other days' articles whose story's canonical moved, not every article of a first load again.
create temporary table story_canonicals on commit drop as
select distinct on (story_id) story_id, article_id
  from (select story_id, doc_id as article_id, published_at, word_count from staging.documents
         where run_id = %(run_id)s and status = 'active'
        union all
        select a.story_id, a.article_id, a.published_at, a.word_count from reporting.articles a
         where a.story_id in (select story_id from touched_stories) and a.run_id <> %(run_id)s
           and not exists (select 1 from staging.documents d
                            where d.run_id = %(run_id)s and d.doc_id = a.article_id and d.status = 'active')) m
 order by story_id, published_at asc nulls last, word_count desc, article_id;
analyze story_canonicals;

insert into reporting.articles as a (
    article_id, source_path, record_index, outlet, title, body, raw_text, published_at, published_jalali,
    date_source, date_reason, story_id, is_canonical, body_hash, word_count, run_id,
    date_confidence, date_calendar, date_weekday_mismatch,
    byline, photo_credit, cited_source, text_loss, needs_review,
    pipeline_version)
select d.doc_id, d.source_path, d.record_index, d.outlet, d.title, d.body, d.raw_text, d.published_at, d.published_jalali,
       d.date_source, d.date_reason, d.story_id, c.article_id is not null, d.body_hash, d.word_count, d.run_id,
       d.date_confidence, d.date_calendar, d.date_weekday_mismatch,
       d.byline, d.photo_credit, d.cited_source, d.text_loss, coalesce(d.needs_review, false),
       %(version)s
  from staging.documents d
  left join story_canonicals c on c.story_id = d.story_id and c.article_id = d.doc_id
 where d.run_id = %(run_id)s and d.status = 'active'
on conflict (article_id) do update set
    source_path = excluded.source_path, record_index = excluded.record_index, outlet = excluded.outlet, title = excluded.title,
    body = excluded.body, raw_text = excluded.raw_text, published_at = excluded.published_at,
    published_jalali = excluded.published_jalali, date_source = excluded.date_source,
    date_reason = excluded.date_reason, story_id = excluded.story_id, body_hash = excluded.body_hash,
    is_canonical = excluded.is_canonical, word_count = excluded.word_count, run_id = excluded.run_id,
    date_confidence = excluded.date_confidence, date_calendar = excluded.date_calendar,
    date_weekday_mismatch = excluded.date_weekday_mismatch,
    byline = excluded.byline, photo_credit = excluded.photo_credit, cited_source = excluded.cited_source,
    text_loss = excluded.text_loss, needs_review = excluded.needs_review,
    pipeline_version = excluded.pipeline_version;

-- Dates mentioned in the bodies of the run's articles (duplicates' mentions are their original's).
insert into reporting.date_mentions (article_id, start_char, end_char, surface, resolved_day, resolved_jalali,
                                     calendar, kind, weekday_ok, confidence, run_id)
select m.doc_id, m.start_char, m.end_char, m.surface, m.resolved_day, m.resolved_jalali, m.calendar, m.kind,
       m.weekday_ok, m.confidence, m.run_id
  from staging.date_mentions m
  join staging.documents d on d.run_id = m.run_id and d.doc_id = m.doc_id and d.status = 'active'
 where m.run_id = %(run_id)s;

insert into reporting.date_coverage
select * from staging.date_coverage where run_id = %(run_id)s;

-- The calendar dimension only grows: a day's row never changes, so a re-run adds nothing.
insert into reporting.calendar (day, jalali_date, jalali_year, jalali_month, jalali_month_name, jalali_day,
                                weekday_name, weekday_no, week_start, jalali_week)
select day, jalali_date, jalali_year, jalali_month, jalali_month_name, jalali_day, weekday_name, weekday_no,
       week_start, jalali_week
  from staging.calendar where run_id = %(run_id)s
on conflict (day) do nothing;

insert into reporting.stripped_lines (article_id, line_no, line, rule)
select s.doc_id, s.line_no, s.line, s.rule
  from staging.stripped_lines s
  join staging.documents d on d.run_id = s.run_id and d.doc_id = s.doc_id and d.status = 'active'
 where s.run_id = %(run_id)s;

delete from reporting.outlet_lines where run_id = %(run_id)s;
insert into reporting.outlet_lines (run_id, outlet, line_key, line, documents)
select run_id, outlet, line_key, line, documents from staging.outlet_lines where run_id = %(run_id)s;

-- staging keeps a document's band keys as one array (band b at position b + 1); the warehouse a row per band,
-- inserted in band_key order: into the band_key index in order (at random, each insert reads and dirties its own
-- leaf page, and the index outgrows shared_buffers at 100k documents)
insert into reporting.lsh_article_bands (article_id, band_keys)
select l.doc_id, l.band_keys from staging.lsh_bands l
 where l.run_id = %(run_id)s and not exists (select 1 from lsh_kept k where k.article_id = l.doc_id);
-- (khabar.pipeline.load runs the statement between these two markers as a binary COPY of the same rows, sorted
-- in the client: khabar.dedup_stage.copy_run_bands; the statement is what it falls back to, and what the script
-- does run alone)
-- lsh_bands: begin
insert into reporting.lsh_bands (article_id, band, band_key)
select l.doc_id, k.ord - 1, k.band_key
from staging.lsh_bands l, unnest(l.band_keys) with ordinality as k(band_key, ord)
where l.run_id = %(run_id)s and not exists (select 1 from lsh_kept kept where kept.article_id = l.doc_id)
order by k.band_key;
-- lsh_bands: end

insert into reporting.dedup_shingles (article_id, shingles)
select doc_id, shingles from staging.dedup_shingles where run_id = %(run_id)s;

insert into reporting.dedup_decisions (article_id, other_article_id, jaccard, containment, rule, same_story, run_id)
select doc_id, other_article_id, jaccard, containment, rule, same_story, run_id
  from staging.dedup_decisions d
 where d.run_id = %(run_id)s
   -- a pair another day already decided (this day re-run after a later one) is not recorded twice
   and not exists (select 1 from reporting.dedup_decisions r
                     where r.run_id <> d.run_id
                       and ((r.article_id = d.doc_id and r.other_article_id = d.other_article_id)
                         or (r.article_id = d.other_article_id and r.other_article_id = d.doc_id)));

-- raw_text: what re-processing (khabar.reprocess) rebuilds the document from, without the landing zone.
insert into reporting.duplicates (source_path, record_index, duplicate_of, body_hash, run_id,
                                  raw_text)
select source_path, record_index, duplicate_of, body_hash, run_id,
       raw_text
  from staging.documents where run_id = %(run_id)s and status = 'duplicate';

delete from reporting.quarantine q
 where q.run_id = %(run_id)s
   and not exists (select 1 from staging.quarantine s
                    where s.run_id = q.run_id and s.source_path = q.source_path and s.record_index = q.record_index);

-- Evidence: a document quarantined by a later stage takes its file's sha256 and size, and its text as read.
insert into reporting.quarantine as q (source_path, record_index, stage, reason, sha256, size_bytes,
                                       evidence_path, raw_record, run_id)
select s.source_path, s.record_index, s.stage, s.reason, coalesce(s.sha256, nullif(f.sha256, '')),
       coalesce(s.size_bytes, f.size_bytes), s.evidence_path, coalesce(s.raw_record, d.raw_text), s.run_id
  from staging.quarantine s
  left join staging.files f on f.run_id = s.run_id and f.source_path = s.source_path
  left join staging.documents d on d.run_id = s.run_id and d.source_path = s.source_path
                               and d.record_index = s.record_index and s.stage <> 'ingest'
 where s.run_id = %(run_id)s
on conflict (run_id, source_path, record_index) do update set
    stage = excluded.stage, reason = excluded.reason, sha256 = excluded.sha256, size_bytes = excluded.size_bytes,
    evidence_path = excluded.evidence_path, raw_record = excluded.raw_record;

-- What became of each discovered file: loaded (at least one article), else duplicate (its documents
-- are all exact copies of earlier ones, bar bad records), else quarantined. A file with none of these
-- keeps a null outcome: it was lost, and the load gate fails.
delete from reporting.files where run_id = %(run_id)s;

-- An earlier file of the run with the same bytes: the first of them by path, if it is before this one
-- (a window over the run's files, not a scan of them per file); else the first such file of an
-- earlier day (index files_sha_run_idx, migration 013), found for all the run's files at once. (Found per file
-- by a subquery in the insert, it was planned as a scan of reporting.files per file when the table's statistics
-- said it was empty, as on a first load, and that scan read the pages the insert was filling: 3.1 s at 30k
-- documents, 0.1-0.4 s at 10k.)
create temporary table earlier_files on commit drop as
select distinct on (p.sha256) p.sha256, p.source_path
  from reporting.files p
 where p.sha256 in (select sha256 from staging.files where run_id = %(run_id)s)
   and p.run_id < %(run_id)s
 order by p.sha256, p.run_id, p.source_path;
analyze earlier_files;
insert into reporting.files (run_id, source_path, sha256, size_bytes, file_format, encoding, outcome, duplicate_of_path)
select f.run_id, f.source_path, nullif(f.sha256, ''), f.size_bytes, f.file_format, f.encoding,
       case when la.source_path is not null then 'loaded'
            when ld.source_path is not null then 'duplicate'
            when lq.source_path is not null then 'quarantined'
       end,
       coalesce(case when f.first_path < f.source_path then f.first_path end, e.source_path)
  from (select s.*, min(s.source_path) over (partition by s.sha256) as first_path
          from staging.files s where s.run_id = %(run_id)s) f
  left join earlier_files e on e.sha256 = f.sha256
  left join (select distinct source_path from reporting.articles where run_id = %(run_id)s) la
         on la.source_path = f.source_path
  left join (select distinct source_path from reporting.duplicates where run_id = %(run_id)s) ld
         on ld.source_path = f.source_path
  left join (select distinct source_path from reporting.quarantine where run_id = %(run_id)s) lq
         on lq.source_path = f.source_path;

-- Stories touched by this run (their members, merges): canonical = earliest published, then longest,
-- then smallest id; outlets are the distinct known outlets of the members.
delete from reporting.stories where story_id in (select story_id from touched_stories);

insert into reporting.stories (story_id, canonical_article_id, article_count, first_published_at, outlets, outlet_count)
select story_id,
       (array_agg(article_id order by published_at asc nulls last, word_count desc, article_id))[1],
       count(*),
       min(published_at),
       coalesce(array_agg(distinct outlet order by outlet) filter (where outlet is not null), '{}'),
       count(distinct outlet)
  from reporting.articles
 where story_id in (select story_id from touched_stories)
 group by story_id;

-- (the run's articles went in with theirs: this changes an article of another day whose story's canonical moved,
-- or one the run's story canonicals did not foresee)
update reporting.articles a
   set is_canonical = (a.article_id = s.canonical_article_id)
  from reporting.stories s
 where s.story_id = a.story_id
   and s.story_id in (select story_id from touched_stories)
   and a.is_canonical is distinct from (a.article_id = s.canonical_article_id);

insert into reporting.runs as r (run_id, airflow_run_id, files_discovered, documents_seen, articles_loaded,
                                 duplicates, quarantined, pipeline_version,
                                 files_loaded, files_duplicate, files_quarantined)
select %(run_id)s, %(airflow_run_id)s,
       (select count(*) from staging.files where run_id = %(run_id)s),
       (select count(*) from staging.documents where run_id = %(run_id)s)
         + (select count(*) from staging.quarantine where run_id = %(run_id)s and stage = 'ingest'),
       (select count(*) from reporting.articles where run_id = %(run_id)s),
       (select count(*) from reporting.duplicates where run_id = %(run_id)s),
       (select count(*) from reporting.quarantine where run_id = %(run_id)s),
       %(version)s,
       (select count(*) from reporting.files where run_id = %(run_id)s and outcome = 'loaded'),
       (select count(*) from reporting.files where run_id = %(run_id)s and outcome = 'duplicate'),
       (select count(*) from reporting.files where run_id = %(run_id)s and outcome = 'quarantined')
on conflict (run_id) do update set
    airflow_run_id = excluded.airflow_run_id, files_discovered = excluded.files_discovered,
    documents_seen = excluded.documents_seen, articles_loaded = excluded.articles_loaded,
    duplicates = excluded.duplicates, quarantined = excluded.quarantined,
    pipeline_version = excluded.pipeline_version, files_loaded = excluded.files_loaded,
    files_duplicate = excluded.files_duplicate, files_quarantined = excluded.files_quarantined, loaded_at = now();
