-- 012: re-processing a subset of the stages (khabar.reprocess). A stage re-runs from the stored output
-- of the stages before it, so the load keeps, per day, what each document was when the chain ended
-- (its staging.documents row as JSON, without raw_text, which articles, duplicates and the quarantine
-- already keep), the title strip gave it (normalize rewrites that column) and the rows of the
-- per-document side tables that reporting keeps for articles only (stripped lines, date mentions):
-- duplicates and documents a later stage quarantined need them too. Replaced on every load of the day.
-- Idempotent, like every migration.

create table if not exists reporting.stage_outputs (
    run_id          text  not null,   -- the day
    kind            text  not null,   -- document | stripped_line | date_mention
    doc_id          text  not null,
    stripped_title  text,             -- document rows: the title as strip left it, before normalize
    row             jsonb not null    -- the staging row (staging.documents, stripped_lines or date_mentions) minus run_id
);
create index if not exists stage_outputs_run_idx on reporting.stage_outputs (run_id, kind);
