-- 001: the warehouse contract (schema reporting) and the per-run work area (schema staging).
-- Applied idempotently at the start of every run; see khabar.warehouse.apply_migrations.

create schema if not exists reporting;
create schema if not exists staging;

-- ---------------------------------------------------------------- staging (one run's work in progress)

create table if not exists staging.files (
    run_id        text        not null,
    file_id       text        not null,
    source_path   text        not null,
    size_bytes    bigint      not null,
    sha256        text        not null,
    encoding      text,
    file_format   text        not null,
    status        text        not null,       -- parsed | quarantined
    primary key (run_id, file_id)
);

create table if not exists staging.documents (
    run_id           text        not null,
    doc_id           text        not null,
    file_id          text        not null,
    source_path      text        not null,
    record_index     integer     not null,
    file_format      text        not null,
    status           text        not null,    -- active | quarantined | duplicate
    raw_text         text        not null,
    raw_title        text,
    meta             jsonb       not null default '{}'::jsonb,
    stripped_text    text,
    title            text,
    outlet           text,
    body             text,
    published_at     timestamptz,
    published_jalali text,
    date_source      text,
    date_evidence    text,
    date_reason      text,
    body_hash        text,
    duplicate_of     text,
    story_id         text,
    word_count       integer,
    primary key (run_id, doc_id)
);

create table if not exists staging.stripped_lines (
    run_id   text    not null,
    doc_id   text    not null,
    line_no  integer not null,
    line     text    not null,
    rule     text    not null,
    primary key (run_id, doc_id, line_no)
);

create table if not exists staging.quarantine (
    run_id       text    not null,
    source_path  text    not null,
    record_index integer not null default -1,   -- -1: the whole file
    stage        text    not null,
    reason       text    not null,
    sha256       text,
    size_bytes   bigint,
    primary key (run_id, source_path, record_index)
);

-- ---------------------------------------------------------------- reporting (the contract for SQL users)

create table if not exists reporting.articles (
    article_id       text        primary key,
    source_path      text        not null,
    record_index     integer     not null default 0,   -- position of a crawler record in its file
    outlet           text,
    title            text,
    body             text        not null,
    raw_text         text        not null,
    published_at     timestamptz,
    published_jalali text,
    date_source      text        not null,
    date_reason      text,
    story_id         text        not null,
    is_canonical     boolean     not null default false,
    body_hash        text        not null,
    word_count       integer     not null,
    run_id           text        not null,
    ingested_at      timestamptz not null default now()
);
create index if not exists articles_run_idx on reporting.articles (run_id);
create index if not exists articles_story_idx on reporting.articles (story_id);
create index if not exists articles_hash_idx on reporting.articles (body_hash);

create table if not exists reporting.stories (
    story_id             text        primary key,
    canonical_article_id text        not null,
    article_count        integer     not null,
    first_published_at   timestamptz
);

create table if not exists reporting.quarantine (
    source_path    text        not null,
    record_index   integer     not null default -1,
    stage          text        not null,
    reason         text        not null,
    sha256         text,
    size_bytes     bigint,
    run_id         text        not null,
    quarantined_at timestamptz not null default now(),
    primary key (run_id, source_path, record_index)
);

create table if not exists reporting.duplicates (
    source_path   text        not null,
    record_index  integer     not null,
    duplicate_of  text        not null,   -- article_id holding the same normalized body
    body_hash     text        not null,
    run_id        text        not null,
    primary key (run_id, source_path, record_index)
);

create table if not exists reporting.gate_results (
    gate_result_id         bigserial   primary key,
    run_id                 text        not null,
    airflow_run_id         text,
    stage                  text        not null,
    success                boolean     not null,
    expectations_evaluated integer     not null,
    expectations_failed    integer     not null,
    details                jsonb       not null,
    checked_at             timestamptz not null default now()
);
create index if not exists gate_results_run_idx on reporting.gate_results (run_id, stage);

create table if not exists reporting.stripped_lines (
    article_id text    not null,
    line_no    integer not null,
    line       text    not null,
    rule       text    not null,
    primary key (article_id, line_no)
);

create table if not exists reporting.runs (
    run_id             text        primary key,
    airflow_run_id     text,
    files_discovered   integer     not null,
    documents_seen     integer     not null,
    articles_loaded    integer     not null,
    duplicates         integer     not null,
    quarantined        integer     not null,
    pipeline_version   text        not null,
    loaded_at          timestamptz not null default now()
);

-- ---------------------------------------------------------------- deduplication state

create table if not exists staging.lsh_bands (
    run_id   text    not null,
    doc_id   text    not null,
    band     integer not null,
    band_key bigint  not null,
    primary key (run_id, doc_id, band)
);

create table if not exists staging.dedup_decisions (
    run_id           text             not null,
    doc_id           text             not null,
    other_article_id text             not null,
    jaccard          double precision not null,
    containment      double precision not null,
    rule             text             not null,
    same_story       boolean          not null
);

-- LSH band keys of every loaded article: near-duplicate candidates are a join on (band_key).
create table if not exists reporting.lsh_bands (
    article_id text    not null,
    band       integer not null,
    band_key   bigint  not null,
    primary key (article_id, band)
);
create index if not exists lsh_bands_key_idx on reporting.lsh_bands (band_key);

-- Every near-duplicate comparison made: the pair, its scores and the rule that decided.
create table if not exists reporting.dedup_decisions (
    article_id       text             not null,
    other_article_id text             not null,
    jaccard          double precision not null,
    containment      double precision not null,
    rule             text             not null,
    same_story       boolean          not null,
    run_id           text             not null
);
create index if not exists dedup_decisions_run_idx on reporting.dedup_decisions (run_id);
