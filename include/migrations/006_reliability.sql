-- 006: reliability. Quarantine keeps its evidence; every discovered file has one outcome;
-- runs carry the file-level conservation the load gate checks. Idempotent.

alter table staging.quarantine   add column if not exists evidence_path text;   -- <sha[:2]>/<sha> under the quarantine folder
alter table staging.quarantine   add column if not exists raw_record    text;   -- a record's or document's own text
alter table reporting.quarantine add column if not exists evidence_path text;
alter table reporting.quarantine add column if not exists raw_record    text;

-- One row per discovered file and run: what became of it.
create table if not exists reporting.files (
    run_id            text    not null,
    source_path       text    not null,
    sha256            text,                -- null when the file was refused unread (symlink out of the root, loop)
    size_bytes        bigint,
    file_format       text    not null,
    encoding          text,
    outcome           text,                -- loaded | duplicate | quarantined (null would be a lost file: the gate fails)
    duplicate_of_path text,                -- an earlier file (this run or an earlier one) with the same sha256
    primary key (run_id, source_path)
);
create index if not exists files_sha_idx on reporting.files (sha256);

alter table reporting.runs add column if not exists files_loaded      integer;
alter table reporting.runs add column if not exists files_duplicate   integer;
alter table reporting.runs add column if not exists files_quarantined integer;
