-- reporting.duplicate_rate: per outlet, how much of what it published repeats something else.
-- near_duplicates: its articles that joined a story as a non-canonical member (a rewrite or relay);
-- exact_copies: documents whose normalized body was byte-identical to one of its articles (the
-- copy's own outlet is not kept, so a copy counts against the outlet of the article it repeats).
create materialized view if not exists reporting.duplicate_rate as
with arts as (
    select coalesce(outlet, '(unknown)') as outlet,
           count(*)::integer as articles,
           (count(*) filter (where not is_canonical))::integer as near_duplicates
      from reporting.articles
     group by 1
), copies as (
    select coalesce(a.outlet, '(unknown)') as outlet, count(*)::integer as exact_copies
      from reporting.duplicates d
      join reporting.articles a on a.article_id = d.duplicate_of
     group by 1
)
select arts.outlet,
       arts.articles,
       arts.near_duplicates,
       coalesce(copies.exact_copies, 0) as exact_copies,
       arts.articles + coalesce(copies.exact_copies, 0) as documents,
       round((arts.near_duplicates + coalesce(copies.exact_copies, 0))::numeric
             / (arts.articles + coalesce(copies.exact_copies, 0)), 4) as duplicate_rate
  from arts
  left join copies using (outlet);

create unique index if not exists duplicate_rate_key on reporting.duplicate_rate (outlet);
