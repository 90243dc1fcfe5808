-- reporting.story_spread: one row per story with its size and its spread across outlets, a size
-- band to group by, and the Jalali day of its first publication.
create materialized view if not exists reporting.story_spread as
select s.story_id,
       s.canonical_article_id,
       a.title as canonical_title,
       s.article_count,
       s.outlet_count,
       s.outlets,
       case when s.article_count = 1 then '1'
            when s.article_count = 2 then '2'
            when s.article_count <= 5 then '3-5'
            when s.article_count <= 10 then '6-10'
            else '11+' end as size_band,
       s.outlet_count > 1 as multi_outlet,
       s.first_published_at,
       c.jalali_date as first_published_jalali,
       c.jalali_year,
       c.jalali_month,
       c.jalali_month_name
  from reporting.stories s
  left join reporting.articles a on a.article_id = s.canonical_article_id
  left join reporting.calendar c on c.day = (s.first_published_at at time zone 'Asia/Tehran')::date;

create unique index if not exists story_spread_key on reporting.story_spread (story_id);
