-- 004: date tagging with provenance. How far each publication date is trusted, the weekday a source
-- stated when it disagrees with the date, every date mentioned in a body, the Jalali calendar
-- dimension, and per-run, per-outlet date coverage. Idempotent, like every migration.

alter table staging.documents add column if not exists date_confidence real;
alter table staging.documents add column if not exists date_calendar text;
alter table staging.documents add column if not exists date_weekday_mismatch text;

alter table reporting.articles add column if not exists date_confidence real;         -- 0..1, null when undated
alter table reporting.articles add column if not exists date_calendar text;           -- jalali | gregorian | hijri
alter table reporting.articles add column if not exists date_weekday_mismatch text;   -- stated weekday vs the date

-- ---------------------------------------------------------------- dates mentioned in bodies

create table if not exists staging.date_mentions (
    run_id          text     not null,
    doc_id          text     not null,
    start_char      integer  not null,   -- span in the article's body (Python string indices)
    end_char        integer  not null,
    surface         text     not null,
    resolved_day    date,                -- null: relative or yearless, and no publication date to resolve it
    resolved_jalali text,
    calendar        text     not null,   -- jalali | gregorian | hijri | relative
    kind            text     not null,   -- absolute | partial (no year) | relative
    weekday_ok      boolean,
    confidence      real     not null,
    primary key (run_id, doc_id, start_char)
);

create table if not exists reporting.date_mentions (
    article_id      text     not null,
    start_char      integer  not null,
    end_char        integer  not null,
    surface         text     not null,
    resolved_day    date,
    resolved_jalali text,
    calendar        text     not null,
    kind            text     not null,
    weekday_ok      boolean,
    confidence      real     not null,
    run_id          text     not null,
    primary key (article_id, start_char)
);
create index if not exists date_mentions_run_idx on reporting.date_mentions (run_id);
create index if not exists date_mentions_day_idx on reporting.date_mentions (resolved_day);

-- ---------------------------------------------------------------- Jalali calendar dimension

create table if not exists staging.calendar (
    run_id            text     not null,
    day               date     not null,
    jalali_date       text     not null,
    jalali_year       integer  not null,
    jalali_month      integer  not null,
    jalali_month_name text     not null,
    jalali_day        integer  not null,
    weekday_name      text     not null,
    weekday_no        integer  not null,
    week_start        date     not null,
    jalali_week       integer  not null,
    primary key (run_id, day)
);

-- One row per Gregorian day, contiguous across the range of published days (extended at load).
create table if not exists reporting.calendar (
    day               date     primary key,
    jalali_date       text     not null,   -- YYYY-MM-DD, as articles.published_jalali
    jalali_year       integer  not null,
    jalali_month      integer  not null,
    jalali_month_name text     not null,   -- فروردین … اسفند
    jalali_day        integer  not null,
    weekday_name      text     not null,   -- شنبه … جمعه
    weekday_no        integer  not null,   -- Saturday 1 … Friday 7
    week_start        date     not null,   -- the Saturday the week starts on
    jalali_week       integer  not null    -- week of the Jalali year; week 1 holds 1 Farvardin
);
create index if not exists calendar_jalali_idx on reporting.calendar (jalali_year, jalali_month);

-- ---------------------------------------------------------------- date coverage per run and outlet

create table if not exists staging.date_coverage (
    run_id             text     not null,
    outlet             text     not null,   -- '(unknown)' when the outlet was not detected
    documents          integer  not null,
    dated              integer  not null,
    coverage           real     not null,   -- dated / documents
    from_html_meta     integer  not null,
    from_dateline      integer  not null,
    from_link          integer  not null,
    from_record_field  integer  not null,
    low_confidence     integer  not null,   -- dated with confidence < 0.8
    weekday_mismatches integer  not null,
    mentions           integer  not null,
    primary key (run_id, outlet)
);

create table if not exists reporting.date_coverage (like staging.date_coverage including all);
