-- 002: boilerplate removal that generalizes (issue 3): credits as columns, a review flag for
-- articles that lost much of their text, and per-outlet line counts for learned furniture.
-- Idempotent: safe to apply on a warehouse that already has it.

alter table staging.documents add column if not exists byline       text;
alter table staging.documents add column if not exists photo_credit text;
alter table staging.documents add column if not exists cited_source text;
alter table staging.documents add column if not exists text_loss    real;
alter table staging.documents add column if not exists needs_review boolean;

alter table reporting.articles add column if not exists byline       text;   -- reporter / author
alter table reporting.articles add column if not exists photo_credit text;   -- «عکس: ...»
alter table reporting.articles add column if not exists cited_source text;   -- the outlet relayed, not the publisher
alter table reporting.articles add column if not exists text_loss    real;   -- share of the text removed as furniture
alter table reporting.articles add column if not exists needs_review boolean not null default false;
create index if not exists articles_review_idx on reporting.articles (run_id) where needs_review;

-- In how many documents of an outlet a line occurred in one run (line_key = md5 of the folded line).
-- The strip stage sums a window of earlier runs (run_id < the current one) with its own counts, so
-- re-running a day sees the same evidence and removes the same lines.
create table if not exists staging.outlet_lines (
    run_id    text    not null,
    outlet    text    not null,
    line_key  text    not null,
    line      text    not null,
    documents integer not null,
    primary key (run_id, outlet, line_key)
);

create table if not exists reporting.outlet_lines (
    run_id    text    not null,
    outlet    text    not null,
    line_key  text    not null,
    line      text    not null,
    documents integer not null,
    primary key (run_id, outlet, line_key)
);
create index if not exists outlet_lines_key_idx on reporting.outlet_lines (outlet, line_key);
