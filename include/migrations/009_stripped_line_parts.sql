-- 009: one line can lose several parts, each to its own rule (a lead prefix, then the rest as the title or
-- as learned furniture), so a removal is keyed by its line and its rule. Speeds up the ingest gate too.

alter table staging.stripped_lines drop constraint if exists stripped_lines_pkey;
alter table staging.stripped_lines add primary key (run_id, doc_id, line_no, rule);

alter table reporting.stripped_lines drop constraint if exists stripped_lines_pkey;
alter table reporting.stripped_lines add primary key (article_id, line_no, rule);

-- the ingest gate counts each file's documents: without this it scans the run's documents once per file
create index if not exists documents_file_idx on staging.documents (run_id, file_id);
