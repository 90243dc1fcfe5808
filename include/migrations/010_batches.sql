-- 010: a run's documents in batches, so the heavy stages can be mapped over them (several workers share one
-- day). Each document's batch is assigned once, at ingest, in (source_path, record_index) order.

alter table staging.documents add column if not exists batch_no integer;       -- null: not in a batch (a rebuilt day)
-- strip's per-document result before learned furniture (the day-level finish removes that), so the finish
-- can be re-run from the same state: the text, and the original line number of each of its lines
alter table staging.documents add column if not exists strip_draft text;
alter table staging.documents add column if not exists strip_draft_line_nos integer[];

create index if not exists documents_batch_idx on staging.documents (run_id, batch_no);

-- Which Airflow run ingested the day: a mapped task of another run refuses to write into it.
create table if not exists staging.ingests (
    run_id         text        primary key,
    airflow_run_id text,
    batch_size     integer     not null,
    batches        integer     not null,
    documents      integer     not null,
    ingested_at    timestamptz not null default now()
);
